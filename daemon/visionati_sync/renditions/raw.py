"""RAW files into the JPEG that is sent: an embedded preview (LibRaw's, else exiftool's),
else LibRaw's demosaiced image, else the largest preview there is."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

from . import tools
from .base import FileProblem, RenditionSettings, refuse_bomb
from .images import LARGE_PIXELS, decoding, encode, load_buffer, vips

PREVIEW_TAGS = ("PreviewImage", "JpgFromRaw", "OtherImage", "ThumbnailImage")


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
        return (*encode(load_buffer(best.data, settings, turn), settings), "embedded-preview")
    try:
        image = _demosaic(path, settings)
        return (*encode(image, settings), "demosaiced")
    except FileProblem as exc:
        problems.append(exc.reason)
    if previews:
        best = max(previews, key=lambda p: p.width * p.height)
        return (*encode(load_buffer(best.data, settings, turn), settings), "embedded-preview")
    raise FileProblem(
        "skipped", "no preview and no image data could be read: " + "; ".join(problems)
    )


def raw_problem(path: str) -> str | None:
    """Given a RAW, why the scan would find nothing to send for it (no preview LibRaw or
    exiftool can read, and no image data LibRaw can unpack), or None; never demosaicing:
    `estimate` asks, to price what the scan will pay for."""
    import rawpy

    previews, _, problems = _libraw_preview(path)
    if previews:
        return None
    more, _, trouble = _exiftool_previews(path)
    if more:
        return None
    try:
        with rawpy.imread(path) as raw:
            raw.raw_image_visible  # noqa: B018 (unpacking the data is the test)
    except (rawpy.LibRawError, OSError, ValueError, MemoryError) as exc:
        problems += [*trouble, f"LibRaw cannot demosaic it ({type(exc).__name__})"]
        return "no preview and no image data could be read: " + "; ".join(problems)
    return None


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

    pyvips = vips()

    try:
        with rawpy.imread(path) as raw:
            width, height = raw.sizes.width, raw.sizes.height
            refuse_bomb(width, height, settings)
            half = max(width, height) // 2 >= settings.max_edge  # LibRaw's cheap 2x2 binning
            with decoding(LARGE_PIXELS):  # LibRaw holds the whole sensor's data
                rgb = raw.postprocess(half_size=half, use_camera_wb=True, output_bps=8)
    except (rawpy.LibRawError, OSError, ValueError, MemoryError) as exc:
        raise FileProblem("skipped", f"LibRaw cannot demosaic it ({type(exc).__name__})") from None
    h, w = rgb.shape[:2]
    image = pyvips.Image.new_from_memory(rgb.tobytes(), w, h, 3, "uchar")
    image = image.copy(interpretation="srgb")
    return image.thumbnail_image(settings.max_edge, height=settings.max_edge, size="down")
