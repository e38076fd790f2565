"""What every part of renditions shares: the settings, the one error a file can end in,
and opening a file without being fooled (never through a link, never blocking on a FIFO)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from ..api.catalog import MAX_FILE_BYTES
from ..files import NotPlain, open_plain

CHUNK = 3 * 256 * 1024  # a multiple of 3, so base64 chunks concatenate without padding


class FileProblem(Exception):
    """A file that will not be uploaded. ``kind`` says what becomes of its job:
    ``vanished`` (dropped from the queue), ``skipped`` (not for us), ``failed`` (a fault
    reading it) or ``changed`` (written to while read, or a RAW waiting on its JPEG: looked
    at again after ``retry_in``, or once it settles)."""

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


def bomb_reason(width: int, height: int, settings: RenditionSettings) -> str:
    return (
        f"the image is {width}x{height} ({width * height / 1e6:,.0f} MP), over "
        f"upload.max_pixels ({settings.max_pixels / 1e6:,.0f} MP): not decoded"
    )


def refuse_bomb(width: int, height: int, settings: RenditionSettings) -> None:
    if width * height > settings.max_pixels:
        raise FileProblem("skipped", bomb_reason(width, height, settings))
