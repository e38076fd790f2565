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

Here: deciding (``plan``, headers only) and preparing (``prepare``) a file; ``images`` and
``raw`` make the JPEGs; ``base`` holds what they share.
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
from .base import CHUNK, FileProblem, RenditionSettings, bomb_reason, open_regular
from .formats import Format, Kind
from .heif import heif_problem
from .images import convert, encode, first_line, load_buffer, vips
from .raw import raw_problem, raw_rendition

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


@dataclass(frozen=True)
class Plan:
    """How a file would go, decided from its header alone (``estimate`` prices this)."""

    format: Format
    how: str  # original, converted, raw (a preview or demosaiced), video, frames or pair
    images: int = 1
    pair: str | None = None
    duration: float | None = None
    size: tuple[int, int] | None = None  # an original image's width and height


# -- reading a file -----------------------------------------------------------------------


@dataclass(frozen=True)
class Hashed:
    path: str
    size: int
    mtime_ns: int
    sha256: str
    format: Format


def hash_file(path: str) -> Hashed:
    """Given a path, read it once: its format (by content) and its sha256."""
    with open_regular(path) as handle:
        info = os.fstat(handle.fileno())
        digest = hashlib.sha256()
        try:
            # a small file in one read of its own size (+1, to see it grew): a read asks for
            # a buffer of the size it is given, and most photos of a backfill are far smaller
            # than a chunk
            wanted = min(CHUNK, info.st_size + 1)
            head = handle.read(wanted)
            found = _identify(path, info.st_size, head)
            digest.update(head)
            if len(head) == wanted:  # more to read: a large file, or one that grew
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
        except OSError as exc:
            raise FileProblem("failed", f"cannot read: {exc.strerror}") from None
    return Hashed(path, info.st_size, info.st_mtime_ns, digest.hexdigest(), found)


def _identify(path: str, size: int, head: bytes) -> Format:
    """Given a file's size and first bytes, its format, or FileProblem saying why none."""
    if size == 0:
        raise FileProblem("skipped", "the file is empty (0 bytes)")
    found = formats.sniff(head[: formats.HEAD_BYTES], os.path.basename(path))
    if found is None:
        raise FileProblem("skipped", formats.describe(head))
    return found


def rendering(decided: Plan, settings: RenditionSettings) -> str:
    """Given how a file goes, the settings that shape what is sent, as text ("" when the
    file goes as it is): part of the results cache's key."""
    jpeg = settings.jpeg_key()
    if decided.how in ("video", "frames"):
        assert decided.duration is not None
        video = f"{settings.interval_for(decided.duration)}:{settings.max_frames}"
        return f"video:{video}" if decided.how == "video" else f"frames:{video}:{jpeg}"
    if decided.how == "raw":
        return f"raw:{settings.min_preview_edge}:{jpeg}"
    return jpeg if decided.how == "converted" else ""


def content_key(file_sha256: str, rendering: str) -> str:
    """The results cache's key: the file's hash alone when it goes as it is (so results
    stored before renditions existed still serve), else the hash of both."""
    if not rendering:
        return file_sha256
    return hashlib.sha256(f"{file_sha256}|{rendering}".encode()).hexdigest()


# -- deciding ------------------------------------------------------------------------------


def plan(path: str, found: Format, size: int, settings: RenditionSettings) -> Plan:
    """Given a file and its format, decide how it goes, reading no more than its header
    (and, for a video, its duration)."""
    if found.kind is Kind.RAW:
        partner = pair_of(path, settings) if settings.pairs == "share" else None
        if partner is not None:
            return Plan(found, "pair", pair=partner)
        return Plan(found, "raw")
    if found.kind is Kind.VIDEO:
        duration = _duration(path)
        how = "video" if found.sendable and size <= settings.max_file_bytes else "frames"
        return Plan(found, how, settings.frames_for(duration), duration=duration)
    if not found.sendable or size > settings.max_file_bytes:
        return Plan(found, "converted")
    width, height, orientation = image_header(path, found)
    if width * height > settings.max_pixels:
        raise FileProblem("skipped", bomb_reason(width, height, settings))
    if max(width, height) > settings.max_edge or orientation != 1:  # upright it here
        return Plan(found, "converted")
    return Plan(found, "original", size=(width, height))


def pair_of(path: str, settings: RenditionSettings) -> str | None:
    """Given a RAW, the JPEG (or HEIC) of the same stem beside it that is the same photograph,
    if there is one: same capture time where both state one."""
    partner = _partner(path)
    if partner is None:
        return None
    try:
        found = tools.exiftool_json("-DateTimeOriginal", "--", path, partner)
    except tools.ToolError:  # exiftool missing or puzzled: the same stem is the usual rule
        return partner
    times = [item.get("DateTimeOriginal") for item in found]
    if len(times) == 2 and all(times) and times[0] != times[1]:
        return None  # two photographs that happen to share a name
    return partner


def _duration(path: str) -> float:
    try:
        return tools.video_duration(path)
    except tools.ToolError as exc:
        raise FileProblem("skipped", f"cannot tell the video's length: {exc}") from None


def image_header(path: str, found: Format) -> tuple[int, int, int]:
    """Given an image the API takes, its width, height and EXIF orientation (headers only)."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # the size is checked against upload.max_pixels instead
    try:
        with Image.open(path, formats=[found.name.upper()]) as image:
            orientation = 1
            if found.name in ("jpeg", "webp", "png"):
                orientation = int(image.getexif().get(0x0112, 1) or 1)
            return image.width, image.height, orientation
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise FileProblem("skipped", f"not a readable {found.name.upper()}: {exc}") from None


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
    if age >= PAIR_WAIT or _partner(path) is not None:
        return
    raise FileProblem(
        "changed", "a new RAW: waiting a moment for a JPEG of the same photograph",
        retry_in=min(PAIR_WAIT - age, max(settings.settle_seconds, 1.0)),
    )  # fmt: skip


def _partner(path: str) -> str | None:
    stem, _ = os.path.splitext(path)
    for ext in formats.PAIR_EXTENSIONS:
        if os.path.isfile(stem + ext):
            return stem + ext
    return None


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
        prepared = _original(hashed, ext, {"duration": round(decided.duration, 3)})
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


# -- estimate --------------------------------------------------------------------------------


def unreadable(path: str, decided: Plan) -> str | None:
    """Given a file and how it would go, why the scan will find nothing it can send, as far
    as that can be told without decoding (a RAW with no preview and no image data, a HEIF
    cut short or holding a stub), or None. `estimate` asks, so that it prices what the
    scan pays for."""
    if decided.how == "raw":
        return raw_problem(path)
    if decided.how == "converted" and decided.format.name in ("heif", "avif"):
        problem = heif_problem(path)
        return (
            None if problem is None else f"not a readable {decided.format.name.upper()}: {problem}"
        )
    return None


def plan_file(path: str, settings: RenditionSettings) -> Plan:
    """Given a path, how it would go, from its header alone; raise FileProblem if it would
    not (``estimate`` prices what the scan will do with the same decision)."""
    with open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        head = handle.read(formats.HEAD_BYTES)
    return plan(path, _identify(path, size, head), size, settings)
