"""A small JPEG of each photo or video on the review page, made once and kept on disk in the
state directory (by the file's hash: a moved file keeps its picture). Made by the same code
that prepares uploads — a HEIC converted, a RAW's preview, a video's frame — at a small
size; never the user's file itself sent to the browser."""

from __future__ import annotations

import dataclasses
import io
import os
import tempfile
import threading
from pathlib import Path

from ..renditions import (
    FileProblem,
    RenditionSettings,
    open_regular,
    plan_file,
    prepare,
    tools,
)
from ..renditions.images import register_plugins

EDGE = 360  # pixels, the long edge: sharp on a card twice as small, on a dense screen


class Thumbnails:
    def __init__(self, folder: Path, settings: RenditionSettings) -> None:
        self.folder = folder
        self.settings = dataclasses.replace(
            settings, max_edge=EDGE, jpeg_quality=80, pairs="separate", min_preview_edge=EDGE // 2
        )
        self.made = 0  # pictures made by this process (the cache's misses)
        self._lock = threading.Lock()

    def get(self, path: str, sha256: str) -> bytes:
        """Given a file and its hash, its thumbnail's JPEG bytes; raises FileProblem when
        the file cannot be shown (gone, undecodable)."""
        cached = self.folder / f"{sha256}.jpg"
        try:
            return cached.read_bytes()
        except FileNotFoundError:
            pass
        with self._lock:  # one file made at a time: a page of 50 must not take every core
            if cached.exists():
                return cached.read_bytes()
            data = self._make(path)
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, cached)
            self.made += 1
            return data

    def _make(self, path: str) -> bytes:
        decided = plan_file(path, self.settings)
        if decided.how in ("video", "frames"):
            duration = decided.duration or 0.0
            try:
                return _jpeg(tools.video_frame(path, min(1.0, duration / 3), EDGE))
            except tools.ToolError as exc:
                raise FileProblem("skipped", f"no frame to show: {exc}") from None
        if decided.how == "original":  # a JPEG, PNG… the API takes as it is: just shrunk
            with open_regular(path) as handle:
                return _jpeg(handle.read())
        data = prepare(path, self.settings).parts[0].data  # converted, or a RAW's rendition
        assert data is not None
        return data


def _jpeg(data: bytes) -> bytes:
    """Any image Pillow reads, as a JPEG at most ``EDGE`` pixels on its long edge."""
    from PIL import Image, ImageOps

    register_plugins()
    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened)
        image.thumbnail((EDGE, EDGE))
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=80)
        return out.getvalue()
