"""The identity of a file's image data, apart from its metadata: what must not change when
tags are written into the file. exiftool 12.58 and later hash it (``ImageDataHash``); Debian 12
ships 12.57, so it is found here by decoding instead: a still's pixels (Pillow, with HEIF and
AVIF through pillow-heif), a DNG's sensor data as stored (rawpy), a video's streams' packets
as stored (ffmpeg). Slower than a hash of bytes, and independent of how the container is laid
out, which is the point."""

from __future__ import annotations

import hashlib

from . import formats, tools
from .base import FileProblem
from .images import first_line, register_plugins


def image_data_hash(path: str) -> str:
    """Given a file we may write tags into, the hash of its image data (or video streams);
    raise FileProblem when it cannot be read that way."""
    ext = formats.extension(path)
    if ext in formats.VIDEO_EXTENSIONS:
        try:
            return hashlib.sha256(tools.stream_hash(path).encode()).hexdigest()
        except tools.ToolError as exc:
            raise FileProblem("failed", f"its streams cannot be read: {exc}") from None
    if ext == ".dng":
        return _sensor_data(path)
    return _pixels(path)


def _pixels(path: str) -> str:
    from PIL import Image

    register_plugins()
    digest = hashlib.sha256()
    try:
        with Image.open(path) as image:
            for index in range(getattr(image, "n_frames", 1)):
                image.seek(index)
                digest.update(f"{image.mode}:{image.size}:".encode())
                digest.update(image.tobytes())
    except Exception as exc:
        raise FileProblem("failed", f"its image cannot be decoded: {first_line(exc)}") from None
    return digest.hexdigest()


def _sensor_data(path: str) -> str:
    import rawpy

    try:
        with rawpy.imread(path) as raw:
            data = raw.raw_image_visible.tobytes()
    except Exception as exc:
        raise FileProblem("failed", f"its sensor data cannot be read: {first_line(exc)}") from None
    return hashlib.sha256(data).hexdigest()
