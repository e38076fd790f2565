"""Sidecar writers: each format renders a file's result beside the image, atomically."""

from __future__ import annotations

from pathlib import Path

from ..config import SidecarSettings
from ..jobs import WriteTask
from . import json as json_sidecar
from .atomic import SidecarError

__all__ = ["SidecarError", "write_sidecars"]


def write_sidecars(task: WriteTask, settings: SidecarSettings) -> list[Path]:
    """Given a stored result, write every configured sidecar; return the paths written."""
    image = Path(task.path)
    if not image.exists():
        raise SidecarError(f"{image}: the file is gone; no sidecar written")
    written = []
    if "json" in settings.formats:
        content = json_sidecar.render(
            image.name, task.sha256, task.request_id, task.tagged_at, task.options, task.asset
        )
        written.append(json_sidecar.write(image, settings.json_suffix, content))
    return written
