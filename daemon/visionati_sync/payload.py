"""Reading files for upload: checking each one, hashing it, and streaming the request body.

The JSON body goes to a temporary file, base64-encoded in chunks, so a batch of large photos is
never held in memory several times over; an open file is also what requests re-sends in full
if the call is retried (a generator body would go out empty).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, Any, BinaryIO

from .catalog import MAX_FILE_BYTES
from .files import NotPlain, open_plain
from .records import shown

CHUNK = 3 * 256 * 1024  # a multiple of 3, so base64 chunks concatenate without padding


class FileProblem(Exception):
    """A file that will not be uploaded. ``kind`` says what becomes of its job:
    ``vanished`` (dropped from the queue), ``skipped`` (not for us) or ``failed`` (a fault)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def sniff(head: bytes) -> str | None:
    """Given a file's first bytes, return the image format they announce, if any."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:2] == b"BM" and len(head) >= 14:
        return "bmp"
    return None


@dataclass(frozen=True)
class CheckedFile:
    path: str
    size: int
    mtime_ns: int
    sha256: str
    kind: str  # the image format


def open_regular(path: str) -> BinaryIO:
    """Given a path, open the regular file there for reading, or raise FileProblem saying
    what becomes of its job (see ``files.open_plain``)."""
    try:
        return open_plain(path)
    except FileNotFoundError:
        raise FileProblem("vanished", "the file no longer exists") from None
    except NotPlain as exc:
        raise FileProblem("skipped", f"{exc}, not a regular file: not read") from None
    except OSError as exc:
        raise FileProblem("failed", f"cannot read: {exc.strerror}") from None


def check_file(path: str) -> CheckedFile:
    """Given a path, read and hash it, or raise FileProblem saying why it cannot go."""
    with open_regular(path) as handle:
        info = os.fstat(handle.fileno())
        if info.st_size == 0:
            raise FileProblem("skipped", "the file is empty (0 bytes)")
        if info.st_size > MAX_FILE_BYTES:
            raise FileProblem(
                "skipped",
                f"the file is {info.st_size / 1e6:,.1f} MB; the API takes at most "
                f"{MAX_FILE_BYTES:,} bytes",
            )
        digest = hashlib.sha256()
        try:
            head = handle.read(CHUNK)
            kind = sniff(head)
            if kind is None:
                raise FileProblem("skipped", f"not an image: content starts with {head[:8]!r}")
            digest.update(head)
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        except OSError as exc:
            raise FileProblem("failed", f"cannot read: {exc.strerror}") from None
    return CheckedFile(path, info.st_size, info.st_mtime_ns, digest.hexdigest(), kind)


def unique_names(paths: Sequence[str]) -> list[str]:
    """Given the files of one request, return upload names that are unique within it.

    Results are matched back by name, so two ``IMG_1.jpg`` from different folders become
    ``IMG_1.jpg`` and ``IMG_1~2.jpg``.
    """
    names: list[str] = []
    taken: set[str] = set()
    for path in paths:
        name = shown(PurePosixPath(path).name)  # names are sent as text
        stem, suffix = os.path.splitext(name)
        candidate, n = name, 1
        while candidate.lower() in taken:
            n += 1
            candidate = f"{stem}~{n}{suffix}"
        taken.add(candidate.lower())
        names.append(candidate)
    return names


def write_body(
    out: IO[bytes], files: Sequence[tuple[str, str]], fields: dict[str, Any]
) -> list[str]:
    """Given (upload name, path) pairs and the other request fields, write the JSON body of
    ``POST /api/fetch`` to ``out`` and return the sha256 of each file's bytes as sent."""
    head = dict(fields)
    head["file_name"] = [name for name, _ in files]
    out.write(json.dumps(head)[:-1].encode() + b', "file": [')
    hashes = []
    for index, (_, path) in enumerate(files):
        if index:
            out.write(b", ")
        out.write(b'"')
        digest = hashlib.sha256()
        try:
            with open_regular(path) as handle:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
                    out.write(base64.b64encode(chunk))
        except OSError as exc:
            raise FileProblem("failed", f"cannot read: {exc.strerror}") from None
        out.write(b'"')
        hashes.append(digest.hexdigest())
    out.write(b"]}")
    out.flush()
    return hashes
