"""Synthetic sample images for the demo, the tests and the benchmarks: real, valid files of
each kind the daemon takes, made with the standard library, distinct per seed."""

from __future__ import annotations

import base64
import random
import struct
import zlib
from pathlib import Path

# An 8×8 baseline JPEG; each sample gets a comment segment that makes its bytes unique.
_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERX"
    "RTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2Nj"
    "Y2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAAIAAgDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAA"
    "AAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAk"
    "M2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKT"
    "lJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QA"
    "HwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdh"
    "cRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hp"
    "anN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk"
    "5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwCSiiivGPWP/9k="
)


def jpeg(seed: int, padding: int = 0) -> bytes:
    """Given a seed, return a valid JPEG unique to it (``padding`` bytes of comment added)."""
    rng = random.Random(seed)
    comment = f"visionati-sync sample {seed} ".encode() + rng.randbytes(min(padding, 65000))
    segment = b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment
    return _JPEG[:2] + segment + _JPEG[2:]


def png(seed: int, width: int = 16, height: int = 16, noise: bool = False) -> bytes:
    """Given a seed, return a valid RGB PNG; ``noise`` makes it incompressible (big files)."""
    rng = random.Random(seed)
    if noise:
        raw = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))
    else:
        base = rng.randbytes(width * 3)
        raw = b"".join(b"\x00" + base[y % 3 :] + base[: y % 3] for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 1))
        + chunk(b"IEND", b"")
    )


def png_of_size(seed: int, approx_bytes: int) -> bytes:
    """Given a target size, return a noisy PNG of about that many bytes."""
    side = max(4, int((approx_bytes / 3) ** 0.5))
    return png(seed, side, side, noise=True)


def write_library(folder: Path, count: int, start: int = 0) -> list[Path]:
    """Given a folder, write ``count`` distinct small images of mixed kinds into it."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(start, start + count):
        path = folder / (f"IMG_{seed:05d}.jpg" if seed % 2 else f"IMG_{seed:05d}.png")
        path.write_bytes(jpeg(seed) if seed % 2 else png(seed))
        paths.append(path)
    return paths
