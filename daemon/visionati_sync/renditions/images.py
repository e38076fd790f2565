"""Images into the JPEG that is sent: libvips (shrink-on-load, streaming, sRGB, rotation),
with Pillow's plugins decoding what libvips's wheel cannot (HEIC, JPEG XL, BMP)."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import threading
from collections.abc import Iterator
from typing import Any

from .base import FileProblem, RenditionSettings, open_regular, refuse_bomb
from .formats import Format
from .heif import heif_problem

_ROTATIONS = {3: "d180", 6: "d90", 8: "d270"}  # EXIF orientation → clockwise turn
# EXIF orientation → Pillow's Image.Transpose value, as ImageOps.exif_transpose maps them
_TRANSPOSE = {2: 0, 3: 3, 4: 1, 5: 5, 6: 4, 7: 6, 8: 2}


VIPS_LOADS = frozenset({"jpeg", "png", "gif", "webp", "tiff", "avif"})


def convert(path: str, found: Format, settings: RenditionSettings) -> tuple[bytes, int, int]:
    """Given an image file, return it as an upright sRGB JPEG within ``max_edge``."""
    if found.name in ("heif", "avif") and (problem := heif_problem(path)):
        raise FileProblem("skipped", f"not a readable {found.name.upper()}: {problem}")
    pyvips = vips()
    try:
        if found.name in VIPS_LOADS:
            header = pyvips.Image.new_from_file(path, access="sequential")
            refuse_bomb(header.width, header.height, settings)
            with decoding(header.width * header.height):
                image = pyvips.Image.thumbnail(
                    path, settings.max_edge, height=settings.max_edge, size="down",
                    fail_on="truncated",  # half a photo is not the photo
                    **_to_srgb(header),
                )  # fmt: skip
                return encode(image, settings)
        return encode(_through_pillow(path, found, settings), settings)
    except pyvips.Error as exc:
        raise FileProblem(
            "skipped", f"not a readable {found.name.upper()}: {first_line(exc)}"
        ) from None


LARGE_PIXELS = 40_000_000  # decoding more than this costs 50 MB and up, however streamed
_large = threading.BoundedSemaphore(1)


@contextlib.contextmanager
def decoding(pixels: int) -> Iterator[None]:
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

    register_plugins()
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(path) as image, decoding(image.width * image.height):
            refuse_bomb(image.width, image.height, settings)
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
    pyvips = vips()
    if image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert(
            "RGBA" if "A" in image.mode or "transparency" in image.info else "RGB"
        )
    bands = len(image.mode)
    pixels = image.tobytes()
    decoded = pyvips.Image.new_from_memory(pixels, image.width, image.height, bands, "uchar")
    decoded = decoded.copy(interpretation="b-w" if bands == 1 else "srgb")
    if icc:
        decoded.set_type(pyvips.GValue.blob_type, "icc-profile-data", icc)
    return decoded.thumbnail_image(
        settings.max_edge, height=settings.max_edge, size="down", **_to_srgb(decoded)
    )


def load_buffer(data: bytes, settings: RenditionSettings, turn: int = 1) -> Any:
    pyvips = vips()
    image = pyvips.Image.thumbnail_buffer(
        data, settings.max_edge, height=settings.max_edge, size="down"
    )
    if "icc-profile-data" in image.get_fields():
        image = image.icc_transform("srgb")
    if turn in _ROTATIONS:
        image = image.rot(_ROTATIONS[turn])
    return image


def encode(image: Any, settings: RenditionSettings) -> tuple[bytes, int, int]:
    """An image as the JPEG that is sent: no alpha, 8 bits, sRGB, no metadata by default."""
    if image.hasalpha():
        image = image.flatten(background=255)
    if image.interpretation not in ("srgb", "b-w") or image.format != "uchar":
        image = image.colourspace("srgb")
    keep = "all" if settings.keep_metadata else "none"
    data = image.jpegsave_buffer(Q=settings.jpeg_quality, keep=keep, optimize_coding=False)
    return bytes(data), image.width, image.height


_registered = False


def vips() -> Any:
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


def register_plugins() -> None:
    global _registered
    if not _registered:
        import pillow_heif
        import pillow_jxl  # noqa: F401 - registers the JPEG XL plugin

        pillow_heif.register_heif_opener()
        _registered = True


def first_line(exc: Exception) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(exc).__name__


# -- RAW -----------------------------------------------------------------------------------
