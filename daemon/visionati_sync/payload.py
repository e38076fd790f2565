"""The request body: the names files go by, and the JSON body of ``POST /api/fetch``.

The body goes to a temporary file, base64-encoded in chunks, so a batch of large photos is
never held in memory several times over; an open file is also what requests re-sends in full
if the call is retried (a generator body would go out empty).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Sequence
from typing import IO, Any

from .records import shown
from .renditions import CHUNK, FileProblem, Part, open_regular

__all__ = ["FileProblem", "unique_names", "upload_name", "write_body"]


def upload_name(file_name: str, part: Part) -> str:
    """Given a file's name and one part of what is sent for it, the name it goes by: the
    file's own for the file itself; ``IMG_1.heic.jpg`` for a JPEG made from it;
    ``clip.mp4~f2.jpg`` for a video's second frame."""
    if part.data is None:
        return file_name
    return f"{file_name}{part.suffix}{part.extension}"


def unique_names(wanted: Sequence[str]) -> list[str]:
    """Given the upload names of one request's parts, return names unique within it.

    Results are matched back by name, so two ``IMG_1.jpg`` from different folders become
    ``IMG_1.jpg`` and ``IMG_1~2.jpg``.
    """
    names: list[str] = []
    taken: set[str] = set()
    for wish in wanted:
        name = shown(wish)  # names are sent as text
        stem, suffix = os.path.splitext(name)
        candidate, n = name, 1
        while candidate.lower() in taken:
            n += 1
            candidate = f"{stem}~{n}{suffix}"
        taken.add(candidate.lower())
        names.append(candidate)
    return names


def write_body(
    out: IO[bytes], parts: Sequence[tuple[str, Part]], fields: dict[str, Any]
) -> list[str]:
    """Given (upload name, part) pairs and the other request fields, write the JSON body of
    ``POST /api/fetch`` to ``out`` and return the sha256 of each part's bytes as sent (a
    file streamed from disk may have changed since it was checked: the caller compares)."""
    head = dict(fields)
    head["file_name"] = [name for name, _ in parts]
    out.write(json.dumps(head)[:-1].encode() + b', "file": [')
    hashes = []
    for index, (_, part) in enumerate(parts):
        if index:
            out.write(b", ")
        out.write(b'"')
        if part.data is not None:
            out.write(base64.b64encode(part.data))
            hashes.append(hashlib.sha256(part.data).hexdigest())
        else:
            hashes.append(_stream(out, part.path))
        out.write(b'"')
    out.write(b"]}")
    out.flush()
    return hashes


def _stream(out: IO[bytes], path: str) -> str:
    digest = hashlib.sha256()
    try:
        with open_regular(path) as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                out.write(base64.b64encode(chunk))
    except OSError as exc:
        raise FileProblem("failed", f"cannot read: {exc.strerror}") from None
    return digest.hexdigest()
