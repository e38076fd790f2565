"""Deciding how a file goes, from its header alone (and a video's length): read it once for
its format and hash (``hash_file``), decide (``plan``: as it is, converted, a RAW's preview,
a video's frames, or a RAW that shares its JPEG's result), key its result (``rendering``,
``content_key``). `estimate` prices this decision (``plan_file``), and asks, without decoding,
what the scan would find it cannot send (``unreadable``)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from . import formats, tools
from .base import CHUNK, FileProblem, RenditionSettings, bomb_reason, open_regular
from .formats import Format, Kind
from .heif import heif_problem
from .raw import raw_problem


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
    beside = same_stem(path)
    if beside is None:
        return None
    try:
        found = tools.exiftool_json("-DateTimeOriginal", "--", path, beside)
    except tools.ToolError:  # exiftool missing or puzzled: the same stem is the usual rule
        return beside
    times = [item.get("DateTimeOriginal") for item in found]
    if len(times) == 2 and all(times) and times[0] != times[1]:
        return None  # two photographs that happen to share a name
    return beside


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


def same_stem(path: str) -> str | None:
    """Given a RAW, the JPEG (or HEIC) beside it with the same stem, if there is one."""
    stem, _ = os.path.splitext(path)
    for ext in formats.PAIR_EXTENSIONS:
        if os.path.isfile(stem + ext):
            return stem + ext
    return None


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
