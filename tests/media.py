"""Media the format tests make for themselves (beside the real samples they read in place):
HEIC written by pillow-heif, TIFF by Pillow, JPEGs by libvips, videos by ffmpeg's test
sources, metadata set by exiftool."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest


def _find_samples() -> Path | None:
    """The real media samples from other projects' test suites: ``$MEDIA_SAMPLES``, or a
    ``shared/media-samples`` beside the repository (they are never copied into it)."""
    if os.environ.get("MEDIA_SAMPLES"):
        return Path(os.environ["MEDIA_SAMPLES"])
    for parent in Path(__file__).resolve().parents[1:]:
        if (parent / "shared" / "media-samples" / "SOURCES.md").is_file():
            return parent / "shared" / "media-samples"
    return None


SAMPLES = _find_samples()
needs_samples = pytest.mark.skipif(
    SAMPLES is None, reason="the real media samples (shared/media-samples) are not here"
)


def samples() -> list[Path]:
    """Every real sample file (not its SOURCES.md), or none where they are not present."""
    if SAMPLES is None:
        return []
    return sorted(p for p in SAMPLES.glob("*/*") if p.is_file() and p.name != "SOURCES.md")


def sample(name: str) -> Path:
    (found,) = [p for p in samples() if p.name == name]
    return found


def copy_samples(folder: Path) -> dict[str, Path]:
    """Copy every sample into ``folder`` (the tests' own temporary library, never the
    repository), named ``source-name``; return original name → copy."""
    folder.mkdir(parents=True, exist_ok=True)
    copies = {}
    for path in samples():
        target = folder / f"{path.parent.name}-{path.name}"
        shutil.copy2(path, target)  # their own mtimes: a library backfilled, not a new import
        copies[f"{path.parent.name}/{path.name}"] = target
    return copies


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def jpeg(path: Path, width: int, height: int, *, quality: int = 85) -> Path:
    """A JPEG of two colour halves (left red, right blue), ``width``×``height``."""
    import pyvips

    left = pyvips.Image.black(width // 2, height).new_from_image([200, 30, 30])
    right = pyvips.Image.black(width - width // 2, height).new_from_image([30, 30, 200])
    image = left.join(right, "horizontal").cast("uchar").copy(interpretation="srgb")
    image.jpegsave(str(path), Q=quality)
    return path


def heic(path: Path, width: int = 640, height: int = 480) -> Path:
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    Image.new("RGB", (width, height), (40, 120, 200)).save(path, format="HEIF", quality=60)
    return path


def tiff(path: Path, width: int = 800, height: int = 600, *, pages: int = 1) -> Path:
    from PIL import Image

    frames = [Image.new("RGB", (width, height), (10 * i, 90, 160)) for i in range(pages)]
    frames[0].save(path, format="TIFF", compression="tiff_lzw", save_all=True,
                   append_images=frames[1:])  # fmt: skip
    return path


def tiff_bomb(path: Path, side: int = 20_000) -> Path:
    """A tiny file that declares ``side``² pixels: decoding it would take gigabytes."""
    from PIL import Image

    Image.new("1", (side, side)).save(path, format="TIFF", compression="group4")
    return path


def video(path: Path, seconds: float, *, size: str = "320x240", raw: bool = False) -> Path:
    """A clip of ffmpeg's test pattern; ``raw`` stores it uncompressed (large files)."""
    codec = ["-c:v", "rawvideo", "-pix_fmt", "rgb24"] if raw else ["-c:v", "mpeg4", "-q:v", "5"]
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
         "-i", f"testsrc2=size={size}:rate=25:duration={seconds}", *codec, str(path)],
        check=True, timeout=120,
    )  # fmt: skip
    return path


def exif(path: Path, *assignments: str) -> Path:
    """Set EXIF tags with exiftool (``Orientation#=6``, ``DateTimeOriginal=…``)."""
    subprocess.run(
        ["exiftool", "-q", "-overwrite_original", *(f"-{a}" for a in assignments), str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    return path
