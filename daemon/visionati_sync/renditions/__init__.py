"""What goes to the API for each file: the file itself when the API takes it as it is, else a
JPEG made from it, in memory, never touching the user's file.

- JPEG, PNG, GIF, WebP, BMP within ``upload.max_edge`` and the 20 MB cap, upright: as they are.
- Other images (HEIC, AVIF, TIFF, JPEG XL), larger ones, and EXIF-rotated ones: a JPEG with the
  rotation applied, colour in sRGB, no metadata unless ``upload.keep_metadata``. libvips
  shrinks while it decodes (JPEG's reduced decoding, TIFF strip by strip), so a 100 MP TIFF
  costs tens of MB, not a GB; HEIC and JPEG XL come through Pillow's plugins.
- RAW: the largest embedded JPEG preview at least ``upload.min_preview_edge`` (LibRaw first,
  exiftool for what LibRaw cannot read), else LibRaw's demosaiced image, else the largest
  preview there is. A RAW with a JPEG of the same stem beside it (same capture time where
  both say) takes that JPEG's result (``upload.pairs: share``).
- Video within the cap: as it is, with ``capture_interval``/``max_frames``; larger: frames
  taken with ffmpeg at the same times, sent as JPEGs of one request.

The result of a file is decided by what is sent, so the results cache is keyed by the
source's sha256 together with how it was made into what was sent (``content_key``).

Here: preparing a file (``prepare``); deciding how it goes is ``plan`` (headers only);
``images`` and ``raw`` make the JPEGs; ``heif`` reads a HEIF's boxes; ``formats`` tells
formats by content; ``tools`` runs other programs; ``base`` holds what they share.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from . import formats, tools
from .base import CHUNK, FileProblem, RenditionSettings, open_regular
from .formats import Format, Kind
from .images import convert, encode, first_line, load_buffer, vips
from .plan import (
    Hashed,
    Plan,
    content_key,
    hash_file,
    plan,
    plan_file,
    rendering,
    same_stem,
    unreadable,
)
from .raw import raw_rendition

__all__ = [
    "CHUNK", "FileProblem", "Part", "Plan", "Prepared", "RenditionSettings", "content_key",
    "convert", "hash_file", "open_regular", "plan", "plan_file", "prepare", "raw_rendition",
    "rendering", "unreadable",
]  # fmt: skip


@dataclass(frozen=True)
class Part:
    """One image or video of a request: ``data`` in memory, or ``None`` for the file at
    ``path`` itself, streamed, which must still hash to ``sha256`` when it is (a paired
    RAW streams its JPEG: the JPEG's hash, not the RAW's)."""

    suffix: str  # added to the upload name's stem: "" or "~f2" (a video's second frame)
    extension: str  # of what is sent: ".jpg" for a JPEG made here, else the file's own
    path: str
    data: bytes | None = None
    sha256: str | None = None  # of the file at ``path``, for a part streamed from it


@dataclass(frozen=True)
class Prepared:
    """A file made ready for upload: what it is, what goes, and what the result is keyed by."""

    path: str
    size: int
    mtime_ns: int
    file_sha256: str
    content_key: str  # the results cache's key: the source's hash with how it was rendered
    format: Format
    parts: tuple[Part, ...]
    sent: dict[str, Any]  # for the JSON sidecar: from, format, width, height, bytes, sha256
    fields: tuple[tuple[str, int], ...] = ()  # request fields it needs (a video's interval)
    images: int = 1  # what the API charges for: images, or a video's frames

    @property
    def sends_itself(self) -> bool:
        """Whether what goes is made from this file (not a RAW's JPEG pair)."""
        return all(part.path == self.path for part in self.parts)

    @property
    def bytes_sent(self) -> int:
        return sum(self.size if p.data is None else len(p.data) for p in self.parts)


# -- making what is sent -------------------------------------------------------------------


PAIR_WAIT = 10.0  # seconds a new RAW waits for a JPEG of the same photograph to appear


def prepare(path: str, settings: RenditionSettings) -> Prepared:
    """Given a path, return what to upload for it, or raise FileProblem saying why not."""
    _wait_for_pair(path, settings)
    hashed = hash_file(path)
    decided = plan(path, hashed.format, hashed.size, settings)
    if decided.how == "pair" and decided.pair is not None:
        return _paired(hashed, decided.pair, settings)
    made = _render(hashed, decided, settings)
    try:
        after = os.lstat(path)
    except FileNotFoundError:
        raise FileProblem("vanished", "the file no longer exists") from None
    if (after.st_size, after.st_mtime_ns) != (hashed.size, hashed.mtime_ns):
        raise FileProblem("changed", "the file changed while it was read")
    return made


def _wait_for_pair(path: str, settings: RenditionSettings) -> None:
    """A RAW that has just arrived with no JPEG beside it yet waits a little (before it is
    even read): a card's import copies IMG_1.CR2, then IMG_1.JPG, and tagging the RAW alone
    would pay for that photograph twice. Backfills of older files never wait."""
    if settings.pairs != "share" or formats.extension(path) not in formats.RAW_EXTENSIONS:
        return
    try:
        age = time.time() - os.lstat(path).st_mtime
    except OSError:
        return  # the reading that follows says what became of it
    if age >= PAIR_WAIT or same_stem(path) is not None:
        return
    raise FileProblem(
        "changed", "a new RAW: waiting a moment for a JPEG of the same photograph",
        retry_in=min(PAIR_WAIT - age, max(settings.settle_seconds, 1.0)),
    )  # fmt: skip


def _paired(hashed: Hashed, partner: str, settings: RenditionSettings) -> Prepared:
    """A RAW that shares its JPEG's result: the JPEG is what goes, keyed as the JPEG is.
    A JPEG still being copied in beside it (a card's import) is waited for: sent now, its
    half would be tagged, and paid for again once it is whole."""
    try:
        age = time.time() - os.lstat(partner).st_mtime
    except OSError:
        age = math.inf  # gone since: the RAW goes on its own below
    if age < settings.settle_seconds:
        raise FileProblem("changed", f"waiting for {PurePosixPath(partner).name} to be complete")
    try:
        other = prepare(partner, _separate(settings))
    except FileProblem:
        fallback = plan(hashed.path, hashed.format, hashed.size, _separate(settings))
        return _render(hashed, fallback, settings)
    if other.format.kind is not Kind.IMAGE:
        return _render(hashed, Plan(hashed.format, "raw"), settings)
    sent = {**other.sent, "from": "pair", "pair": PurePosixPath(partner).name}
    return Prepared(
        hashed.path, hashed.size, hashed.mtime_ns, hashed.sha256, other.content_key,
        hashed.format, other.parts, sent, other.fields, other.images,
    )  # fmt: skip


def _separate(settings: RenditionSettings) -> RenditionSettings:
    return dataclasses.replace(settings, pairs="separate")


def _render(hashed: Hashed, decided: Plan, settings: RenditionSettings) -> Prepared:
    pyvips = vips()
    try:
        return _make(hashed, decided, settings)
    except pyvips.Error as exc:  # a preview or a frame libvips cannot decode
        raise FileProblem("skipped", f"cannot be converted: {first_line(exc)}") from None


def _make(hashed: Hashed, decided: Plan, settings: RenditionSettings) -> Prepared:
    how = decided.how
    ext = formats.extension(hashed.path) or ".bin"
    if how == "original":
        assert decided.size is not None
        width, height = decided.size
        return _original(hashed, ext, {"width": width, "height": height})
    if how == "video":
        assert decided.duration is not None
        interval = settings.interval_for(decided.duration)
        prepared = _original(hashed, ext, {"duration": round(decided.duration, 3),
                                           "frames": decided.images,
                                           "capture_interval": interval})  # fmt: skip
        return dataclasses.replace(
            prepared,
            content_key=content_key(hashed.sha256, rendering(decided, settings)),
            fields=(("capture_interval", interval), ("max_frames", settings.max_frames)),
            images=decided.images,
        )
    if how == "frames":
        return _frames(hashed, decided, settings)
    if how == "raw":
        data, width, height, source = raw_rendition(hashed.path, settings)
    else:
        data, width, height = convert(hashed.path, hashed.format, settings)
        source = "converted"
    sent = _sent(source, "jpeg", data, width, height)
    return Prepared(
        hashed.path, hashed.size, hashed.mtime_ns, hashed.sha256,
        content_key(hashed.sha256, rendering(decided, settings)), hashed.format,
        (Part("", ".jpg", hashed.path, data),), sent,
    )  # fmt: skip


def _original(hashed: Hashed, ext: str, extra: dict[str, Any]) -> Prepared:
    sent = {"from": "original", "format": hashed.format.name, **extra,
            "bytes": hashed.size, "sha256": hashed.sha256}  # fmt: skip
    return Prepared(
        hashed.path, hashed.size, hashed.mtime_ns, hashed.sha256, hashed.sha256,
        hashed.format, (Part("", ext, hashed.path, sha256=hashed.sha256),), sent,
    )  # fmt: skip


def _frames(hashed: Hashed, decided: Plan, settings: RenditionSettings) -> Prepared:
    assert decided.duration is not None
    interval = settings.interval_for(decided.duration)
    parts = []
    for index in range(decided.images):
        try:
            png = tools.video_frame(hashed.path, index * interval, settings.max_edge)
        except tools.ToolError as exc:
            raise FileProblem("skipped", f"cannot take the video's frames: {exc}") from None
        if not png:
            break  # the container said it was longer than it is
        data, width, height = encode(load_buffer(png, settings), settings)
        parts.append(Part(f"~f{index + 1}", ".jpg", hashed.path, data))
    if not parts:
        raise FileProblem("skipped", "ffmpeg found no frame in the video")
    joined = b"".join(p.data or b"" for p in parts)
    sent = _sent("frames", "jpeg", joined, width, height) | {
        "frames": len(parts), "capture_interval": interval,
        "duration": round(decided.duration, 3),
    }  # fmt: skip
    return Prepared(
        hashed.path, hashed.size, hashed.mtime_ns, hashed.sha256,
        content_key(hashed.sha256, rendering(decided, settings)), hashed.format, tuple(parts),
        sent, images=len(parts),
    )  # fmt: skip


def _sent(source: str, fmt: str, data: bytes, width: int, height: int) -> dict[str, Any]:
    return {"from": source, "format": fmt, "width": width, "height": height,
            "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}  # fmt: skip
