"""The request body: the names files go by, and the JSON body of ``POST /api/fetch``.

Files go by synthetic names (``v3fa9c21.jpg``): the API rewrites names in ways we cannot see,
and results come back by name; a photo's name is also the user's own (a client's, a
patient's), and the models look at the pixels. ``upload.send_file_names`` sends the real
names instead, made unique within the request even once rewritten (``fold``).

The body goes to a temporary file, base64-encoded in chunks, so a batch of large photos is
never held in memory several times over; an open file is also what requests re-sends in full
if the call is retried (a generator body would go out empty).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
from collections.abc import Sequence
from typing import IO, Any

from ..records import shown
from ..renditions import CHUNK, FileProblem, Part, open_regular

__all__ = [
    "FileProblem", "fold", "request_names", "sent_extension", "synthetic_names", "unique_names",
    "upload_name", "write_body",
]  # fmt: skip

_NOT_KEPT = re.compile(r"[^a-z0-9]")  # what a rewriting of names may replace or drop


def upload_name(file_name: str, part: Part) -> str:
    """Given a file's name and one part of what is sent for it, the name it goes by: the
    file's own for the file itself; ``IMG_1.heic.jpg`` for a JPEG made from it;
    ``clip.mp4~f2.jpg`` for a video's second frame."""
    if part.data is None:
        return file_name
    return f"{file_name}{part.suffix}{part.extension}"


def fold(name: str) -> str:
    """Given a name, what is left of it after any rewriting that keeps ASCII letters and
    digits (case aside) and replaces or drops the rest: ``Anna – 2019.jpg`` and the API's
    ``Anna___2019.jpg`` are both ``anna2019jpg``."""
    return _NOT_KEPT.sub("", name.lower())


def unique_names(wanted: Sequence[str]) -> list[str]:
    """Given the real names of one request's parts, return names unique within it, even
    once the API has rewritten them (``fold``): results are matched back by name, so
    ``a b.jpg`` beside ``a_b.jpg``, or two ``IMG_1.jpg`` of different folders, become
    ``a b.jpg`` and ``a_b-2.jpg``."""
    names: list[str] = []
    taken: set[str] = set()
    for wish in wanted:
        name = shown(wish)  # names are sent as text
        stem, suffix = os.path.splitext(name)
        candidate, n = name, 1
        while fold(candidate) in taken:
            n += 1
            candidate = f"{stem}-{n}{suffix}"
        taken.add(fold(candidate))
        names.append(candidate)
    return names


def request_names(parts: Sequence[tuple[str, Part, str]], *, real: bool) -> list[str]:
    """Given each part of one request with its file's name and format, the names they go
    by: synthetic, or (``real``: ``upload.send_file_names``) the files' own, made unique."""
    if real:
        return unique_names([upload_name(file_name, part) for file_name, part, _ in parts])
    return synthetic_names([sent_extension(part, format_name) for _, part, format_name in parts])


def sent_extension(part: Part, format_name: str) -> str:
    """Given a part sent for a file and the file's format, the extension of what is sent
    (a JPEG made here: ``jpg``; the file itself: its own, in lower case, or its format's
    when it has none that is letters and digits)."""
    extension = part.extension.lstrip(".").lower()
    return extension if extension and not _NOT_KEPT.search(extension) else format_name


def synthetic_names(extensions: Sequence[str]) -> list[str]:
    """Given the extension of each part of one request, names that say nothing of the
    user's files and that no sane rewriting touches: lower-case letters and digits, one dot,
    the extension; the same token for the whole request, then the part's place in it."""
    token = secrets.token_hex(3)
    return [
        f"v{token}{place}.{_NOT_KEPT.sub('', extension.lower()) or 'bin'}"
        for place, extension in enumerate(extensions, 1)
    ]


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
