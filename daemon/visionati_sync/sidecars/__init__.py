"""Sidecar writers: each format renders a file's result beside the image, atomically."""

from __future__ import annotations

from pathlib import Path

from ..config import SidecarSettings
from ..jobs import WriteTask
from ..log import get_logger
from . import json as json_sidecar
from . import xmp
from .atomic import SidecarError

__all__ = ["SidecarError", "write_sidecars"]

log = get_logger("sidecars")


def xmp_result(task: WriteTask, settings: SidecarSettings) -> xmp.XmpResult:
    """Given a stored result, decide what goes into the XMP sidecar."""
    return xmp.XmpResult(
        file_name=Path(task.path).name,
        request_id=task.request_id,
        tagged_at=task.tagged_at,
        keywords=xmp.keywords_from_asset(task.asset, settings.max_keywords, settings.min_tag_score),
        description=xmp.description_from_asset(task.asset, settings.description_sources),
        alt_text=task.options.get("role") == "alttext" and not task.options.get("prompt"),
    )


def write_sidecars(task: WriteTask, settings: SidecarSettings) -> list[Path]:
    """Given a stored result, write every configured sidecar; return the paths written.

    The XMP goes first: if the user's sidecar cannot be merged, the job fails before any
    other file is touched.
    """
    image = Path(task.path)
    if not image.exists():
        raise SidecarError(f"{image}: the file is gone; no sidecar written")
    written = []
    if "xmp" in settings.formats:
        xmp_settings = xmp.XmpSettings(settings.hierarchy_root, settings.overwrite_description)
        path, note = xmp.write(image, xmp_result(task, settings), xmp_settings, settings.xmp_naming)
        if note:
            log.warning("XMP sidecar name fell back to append", reason=note, sidecar=path.name)
        written.append(path)
    if "json" in settings.formats:
        content = json_sidecar.render(
            image.name, task.sha256, task.request_id, task.tagged_at, task.options, task.asset
        )
        written.append(json_sidecar.write(image, settings.json_suffix, content))
    return written
