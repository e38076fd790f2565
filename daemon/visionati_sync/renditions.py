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
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import ctypes.util
import dataclasses
import hashlib
import io
import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from . import formats, tools
from .catalog import MAX_FILE_BYTES
from .files import NotPlain, open_plain
from .formats import Format, Kind

CHUNK = 3 * 256 * 1024  # a multiple of 3, so base64 chunks concatenate without padding
PREVIEW_TAGS = ("PreviewImage", "JpgFromRaw", "OtherImage", "ThumbnailImage")
_ROTATIONS = {3: "d180", 6: "d90", 8: "d270"}  # EXIF orientation → clockwise turn
# EXIF orientation → Pillow's Image.Transpose value, as ImageOps.exif_transpose maps them
_TRANSPOSE = {2: 0, 3: 3, 4: 1, 5: 5, 6: 4, 7: 6, 8: 2}


class FileProblem(Exception):
    """A file that will not be uploaded. ``kind`` says what becomes of its job:
    ``vanished`` (dropped from the queue), ``skipped`` (not for us), ``failed`` (a fault
    reading it) or ``changed`` (written to while read: checked again once it settles)."""

    def __init__(self, kind: str, reason: str, *, retry_in: float | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.retry_in = retry_in  # for ``changed``: when to look again (None: a settle)


@dataclass(frozen=True)
class RenditionSettings:
    max_edge: int = 2048
    jpeg_quality: int = 90
    keep_metadata: bool = False
    min_preview_edge: int = 1024
    max_pixels: int = 200_000_000
    capture_interval: int | None = None  # None: spread max_frames over the whole clip
    max_frames: int = 3
    pairs: str = "share"
    max_file_bytes: int = MAX_FILE_BYTES
    settle_seconds: float = 0.0  # a RAW's JPEG must have been quiet this long to be shared

    def jpeg_key(self) -> str:
        return (
            f"jpeg:{self.max_edge}:q{self.jpeg_quality}:{'meta' if self.keep_metadata else 'bare'}"
        )

    def interval_for(self, duration: float) -> int:
        """Given a clip's length, the seconds between the frames the API (or ffmpeg) takes."""
        if self.capture_interval is not None:
            return self.capture_interval
        return max(1, math.ceil(duration / self.max_frames))

    def frames_for(self, duration: float) -> int:
        """Given a clip's length, how many frames are analysed (and charged)."""
        return min(self.max_frames, max(1, math.ceil(duration / self.interval_for(duration))))


@dataclass(frozen=True)
class Part:
    """One image or video of a request: ``data`` in memory, or ``None`` for the file at
    ``path`` itself, streamed."""

    suffix: str  # added to the upload name's stem: "" or "~f2" (a video's second frame)
    extension: str  # of what is sent: ".jpg" for a JPEG made here, else the file's own
    path: str
    data: bytes | None = None


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


# -- reading a file -----------------------------------------------------------------------


def open_regular(path: str) -> io.BufferedReader:
    """Given a path, open the regular file there for reading, or raise FileProblem saying
    what becomes of its job (see ``files.open_plain``)."""
    try:
        return open_plain(path)  # type: ignore[return-value]
    except FileNotFoundError:
        raise FileProblem("vanished", "the file no longer exists") from None
    except NotPlain as exc:
        raise FileProblem("skipped", f"{exc}, not a regular file: not read") from None
    except OSError as exc:
        raise FileProblem("failed", f"cannot read: {exc.strerror}") from None


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
        if info.st_size == 0:
            raise FileProblem("skipped", "the file is empty (0 bytes)")
        digest = hashlib.sha256()
        try:
            head = handle.read(CHUNK)
            found = formats.sniff(head[: formats.HEAD_BYTES], os.path.basename(path))
            if found is None:
                raise FileProblem("skipped", formats.describe(head))
            digest.update(head)
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        except OSError as exc:
            raise FileProblem("failed", f"cannot read: {exc.strerror}") from None
    return Hashed(path, info.st_size, info.st_mtime_ns, digest.hexdigest(), found)


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
        raise FileProblem("skipped", _bomb(width, height, settings))
    if max(width, height) > settings.max_edge or orientation != 1:  # upright it here
        return Plan(found, "converted")
    return Plan(found, "original")


def pair_of(path: str, settings: RenditionSettings) -> str | None:
    """Given a RAW, the JPEG (or HEIC) of the same stem beside it that is the same photograph,
    if there is one: same capture time where both state one."""
    partner = _partner(path)
    if partner is None:
        return None
    if not tools.available("exiftool"):
        return partner  # the same stem is the usual rule (Lightroom's, darktable's)
    try:
        found = tools.exiftool_json("-DateTimeOriginal", "--", path, partner)
    except tools.ToolError:
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


def _bomb(width: int, height: int, settings: RenditionSettings) -> str:
    return (
        f"the image is {width}x{height} ({width * height / 1e6:,.0f} MP), over "
        f"upload.max_pixels ({settings.max_pixels / 1e6:,.0f} MP): not decoded"
    )


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
    pyvips = _vips()
    try:
        return _make(hashed, decided, settings)
    except pyvips.Error as exc:  # a preview or a frame libvips cannot decode
        raise FileProblem("skipped", f"cannot be converted: {_first(exc)}") from None


def _make(hashed: Hashed, decided: Plan, settings: RenditionSettings) -> Prepared:
    how = decided.how
    ext = formats.extension(hashed.path) or ".bin"
    if how == "original":
        width, height, _ = image_header(hashed.path, hashed.format)
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
        hashed.format, (Part("", ext, hashed.path),), sent,
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
        data, width, height = _encode(_load_buffer(png, settings), settings)
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


# -- images --------------------------------------------------------------------------------

VIPS_LOADS = frozenset({"jpeg", "png", "gif", "webp", "tiff", "avif"})


def convert(path: str, found: Format, settings: RenditionSettings) -> tuple[bytes, int, int]:
    """Given an image file, return it as an upright sRGB JPEG within ``max_edge``."""
    pyvips = _vips()
    try:
        if found.name in VIPS_LOADS:
            header = pyvips.Image.new_from_file(path, access="sequential")
            _refuse_bomb(header.width, header.height, settings)
            with _decoding(header.width * header.height):
                image = pyvips.Image.thumbnail(
                    path, settings.max_edge, height=settings.max_edge, size="down",
                    fail_on="truncated",  # half a photo is not the photo
                    **_to_srgb(header),
                )  # fmt: skip
                return _encode(image, settings)
        return _encode(_through_pillow(path, found, settings), settings)
    except pyvips.Error as exc:
        raise FileProblem(
            "skipped", f"not a readable {found.name.upper()}: {_first(exc)}"
        ) from None


LARGE_PIXELS = 40_000_000  # decoding more than this costs 50 MB and up, however streamed
_large = threading.BoundedSemaphore(1)


@contextlib.contextmanager
def _decoding(pixels: int) -> Iterator[None]:
    """Decode a large image (a 100 MP scan, a RAW to demosaic) only when no other large one
    is being decoded: the pool's threads may take small ones beside it, and memory stays
    bounded by one large decode, however many are queued."""
    if pixels < LARGE_PIXELS:
        yield
        return
    with _large:
        yield


def _to_srgb(header: Any) -> dict[str, str]:
    """Convert colour only when the image says it is in another space (an embedded ICC
    profile: Display P3, Adobe RGB, CMYK): without one it is sRGB already, and the
    transform would cost more than the decoding."""
    return {"export_profile": "srgb"} if "icc-profile-data" in header.get_fields() else {}


def _through_pillow(path: str, found: Format, settings: RenditionSettings) -> Any:
    """HEIC/HEIF, JPEG XL and BMP: decoded by Pillow's plugins, then shrunk by libvips."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    _register_plugins()
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(path) as image, _decoding(image.width * image.height):
            _refuse_bomb(image.width, image.height, settings)
            image.draft("RGB", (settings.max_edge, settings.max_edge))
            upright = ImageOps.exif_transpose(image)
            turn = image.info.get("original_orientation", 1)
            if found.name == "heif" and turn in _TRANSPOSE and not _heif_transformed(path):
                upright = upright.transpose(Image.Transpose(_TRANSPOSE[turn]))
            return _from_pillow(upright, image.info.get("icc_profile"), settings)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise FileProblem("skipped", f"not a readable {found.name.upper()}: {exc}") from None


def _heif_transformed(path: str) -> bool:
    """Whether a HEIF file rotates or mirrors its image itself (``irot``/``imir`` in its
    meta box, before the image data). libheif applies those and pillow-heif then clears the
    EXIF orientation; a file with neither (some iPhone 7 photos) is turned by its EXIF
    orientation alone, as every viewer does."""
    with open_regular(path) as handle:
        head = handle.read(256 * 1024)
    meta = head[: head.find(b"mdat")] if b"mdat" in head else head
    return b"irot" in meta or b"imir" in meta


def _from_pillow(image: Any, icc: bytes | None, settings: RenditionSettings) -> Any:
    pyvips = _vips()
    if image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert(
            "RGBA" if "A" in image.mode or "transparency" in image.info else "RGB"
        )
    bands = len(image.mode)
    vips = pyvips.Image.new_from_memory(image.tobytes(), image.width, image.height, bands, "uchar")
    vips = vips.copy(interpretation="b-w" if bands == 1 else "srgb")
    if icc:
        vips.set_type(pyvips.GValue.blob_type, "icc-profile-data", icc)
    return vips.thumbnail_image(
        settings.max_edge, height=settings.max_edge, size="down", **_to_srgb(vips)
    )


def _load_buffer(data: bytes, settings: RenditionSettings, turn: int = 1) -> Any:
    pyvips = _vips()
    image = pyvips.Image.thumbnail_buffer(
        data, settings.max_edge, height=settings.max_edge, size="down"
    )
    if "icc-profile-data" in image.get_fields():
        image = image.icc_transform("srgb")
    if turn in _ROTATIONS:
        image = image.rot(_ROTATIONS[turn])
    return image


def _encode(image: Any, settings: RenditionSettings) -> tuple[bytes, int, int]:
    """An image as the JPEG that is sent: no alpha, 8 bits, sRGB, no metadata by default."""
    if image.hasalpha():
        image = image.flatten(background=255)
    if image.interpretation not in ("srgb", "b-w") or image.format != "uchar":
        image = image.colourspace("srgb")
    keep = "all" if settings.keep_metadata else "none"
    data = image.jpegsave_buffer(Q=settings.jpeg_quality, keep=keep, optimize_coding=False)
    return bytes(data), image.width, image.height


def _refuse_bomb(width: int, height: int, settings: RenditionSettings) -> None:
    if width * height > settings.max_pixels:
        raise FileProblem("skipped", _bomb(width, height, settings))


_registered = False


def _vips() -> Any:
    """libvips, with its cache of operations off: a daemon converting file after file
    would otherwise keep large decoded images around to no purpose."""
    import pyvips

    if pyvips.cache_get_max() != 0:
        pyvips.cache_set_max(0)
        _return_freed_memory()
    return pyvips


def _return_freed_memory() -> None:
    """Have glibc's malloc serve large buffers (a decoder's strips and lines) from mmap,
    which gives them back when freed. By default it raises that threshold after each large
    free, and the heap of each thread then keeps what one large image needed: measured on
    100 MP TIFFs, the resident size grew by some 100 MB per image converted, where with a
    fixed threshold it stays flat."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD; setting it fixes it
    except (OSError, AttributeError):
        pass  # not glibc: its malloc has its own ways


def _register_plugins() -> None:
    global _registered
    if not _registered:
        import pillow_heif
        import pillow_jxl  # noqa: F401 - registers the JPEG XL plugin

        pillow_heif.register_heif_opener()
        _registered = True


def _first(exc: Exception) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(exc).__name__


# -- RAW -----------------------------------------------------------------------------------


@dataclass
class _Preview:
    data: bytes
    width: int
    height: int


def raw_rendition(path: str, settings: RenditionSettings) -> tuple[bytes, int, int, str]:
    """Given a RAW, return the JPEG sent for it, its size, and what it was made from:
    ``embedded-preview`` or ``demosaiced``. LibRaw is asked first (in process, fast);
    exiftool only when LibRaw has no preview large enough (it reads, say, the previews of
    a pruned CR3 that LibRaw cannot open)."""
    previews, turn, problems = _libraw_preview(path)
    if not _large_enough(previews, settings):
        more, stated, trouble = _exiftool_previews(path)
        previews += [p for p in more if all(p.data != q.data for q in previews)]
        turn = turn if turn != 1 else stated
        problems += trouble
    big = _large_enough(previews, settings)
    if big:
        best = max(big, key=lambda p: p.width * p.height)
        return (*_encode(_load_buffer(best.data, settings, turn), settings), "embedded-preview")
    try:
        image = _demosaic(path, settings)
        return (*_encode(image, settings), "demosaiced")
    except FileProblem as exc:
        problems.append(exc.reason)
    if previews:
        best = max(previews, key=lambda p: p.width * p.height)
        return (*_encode(_load_buffer(best.data, settings, turn), settings), "embedded-preview")
    raise FileProblem(
        "skipped", "no preview and no image data could be read: " + "; ".join(problems)
    )


def _large_enough(previews: list[_Preview], settings: RenditionSettings) -> list[_Preview]:
    return [p for p in previews if max(p.width, p.height) >= settings.min_preview_edge]


def _libraw_preview(path: str) -> tuple[list[_Preview], int, list[str]]:
    """The preview LibRaw picks, the RAW's orientation (EXIF's numbering), what failed."""
    import rawpy

    previews: list[_Preview] = []
    try:
        with rawpy.imread(path) as raw:
            turn = {3: 3, 5: 8, 6: 6}.get(raw.sizes.flip, 1)  # LibRaw's flip → EXIF's
            thumb = raw.extract_thumb()
            if thumb.format == rawpy.ThumbFormat.JPEG:
                _add_preview(previews, bytes(thumb.data))
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        return previews, 1, [f"LibRaw: {type(exc).__name__.removeprefix('LibRaw')}"]
    return previews, turn, []


def _exiftool_previews(path: str) -> tuple[list[_Preview], int, list[str]]:
    """Every embedded JPEG preview exiftool finds, the orientation the RAW states, what
    failed."""
    try:
        found = tools.exiftool_json("-b", "-a", "-G1", "-Orientation#",
                                    *(f"-{tag}" for tag in PREVIEW_TAGS), "--", path)  # fmt: skip
    except tools.ToolError as exc:
        return [], 1, [str(exc)]
    previews: list[_Preview] = []
    turn = 1
    for item in found:
        for key, value in item.items():
            if key.endswith(":Orientation") and isinstance(value, int) and turn == 1:
                turn = value
            elif isinstance(value, str) and value.startswith("base64:"):
                _add_preview(previews, base64.b64decode(value[7:]))
    return previews, turn, []


def _add_preview(previews: list[_Preview], data: bytes) -> None:
    from PIL import Image

    if not data.startswith(b"\xff\xd8") or any(p.data == data for p in previews):
        return
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as image:
            previews.append(_Preview(data, image.width, image.height))
    except (OSError, ValueError, SyntaxError):
        return


def _demosaic(path: str, settings: RenditionSettings) -> Any:
    import rawpy

    pyvips = _vips()

    try:
        with rawpy.imread(path) as raw:
            width, height = raw.sizes.width, raw.sizes.height
            _refuse_bomb(width, height, settings)
            half = max(width, height) // 2 >= settings.max_edge  # LibRaw's cheap 2x2 binning
            with _decoding(LARGE_PIXELS):  # LibRaw holds the whole sensor's data
                rgb = raw.postprocess(half_size=half, use_camera_wb=True, output_bps=8)
    except (rawpy.LibRawError, OSError, ValueError, MemoryError) as exc:
        raise FileProblem("skipped", f"LibRaw cannot demosaic it ({type(exc).__name__})") from None
    h, w = rgb.shape[:2]
    image = pyvips.Image.new_from_memory(rgb.tobytes(), w, h, 3, "uchar")
    image = image.copy(interpretation="srgb")
    return image.thumbnail_image(settings.max_edge, height=settings.max_edge, size="down")


# -- estimate --------------------------------------------------------------------------------


def plan_file(path: str, settings: RenditionSettings) -> Plan:
    """Given a path, how it would go, from its header alone; raise FileProblem if it would
    not (``estimate`` prices what the scan will do with the same decision)."""
    with open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        head = handle.read(formats.HEAD_BYTES)
    found = formats.sniff(head, os.path.basename(path))
    if found is None or size == 0:
        raise FileProblem("skipped", formats.describe(head))
    return plan(path, found, size, settings)
