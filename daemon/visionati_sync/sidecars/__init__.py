"""Sidecar writers: each format decides its bytes (``plan``), and one batch writes them all
atomically, so that a whole batch of photos costs two disk flushes, not two per file."""

from __future__ import annotations

import os
from pathlib import Path

from ..config import SidecarSettings
from ..records import WriteTask, shown
from ..rules.keywording import KeywordRules, choose
from . import json as json_sidecar
from . import xmp
from .atomic import (
    Planned,
    SidecarError,
    Snapshot,
    WriteBatch,
    check_target,
    folder_writable,
    name_max,
    write_with_retry,
)

__all__ = [
    "KeywordRules", "Planned", "SidecarError", "WriteBatch", "plan_sidecars", "preflight",
    "write_sidecars", "xmp_result",
]  # fmt: skip


def xmp_result(task: WriteTask, settings: SidecarSettings, rules: KeywordRules) -> xmp.XmpResult:
    """Given a stored result and the folder's keyword rules, decide what goes into the XMP
    sidecar."""
    return xmp.XmpResult(
        file_name=shown(Path(task.path).name),
        request_id=task.request_id,
        tagged_at=task.tagged_at,
        keywords=choose(task.asset, rules),
        description=xmp.description_from_asset(task.asset, settings.description_sources),
        alt_text=task.options.get("role") == "alttext" and not task.options.get("prompt"),
    )


def plan_sidecars(
    task: WriteTask, settings: SidecarSettings, rules: KeywordRules | None = None
) -> list[Planned]:
    """Given a stored result, return every configured sidecar's new bytes.

    Raises SidecarError, before anything is written, when the photo is gone or its XMP
    sidecar cannot be merged.
    """
    image = Path(task.path)
    if not image.exists():
        raise SidecarError(f"{image}: the file is gone; no sidecar written")
    plans = []
    if "xmp" in settings.formats:
        result = xmp_result(task, settings, rules or KeywordRules(root=settings.hierarchy_root))
        xmp_settings = xmp.XmpSettings(settings.overwrite_description)
        plans.append(xmp.plan(image, result, xmp_settings, settings.xmp_naming))
    if "json" in settings.formats:
        content = json_sidecar.render(
            shown(image.name),
            task.sha256,
            task.request_id,
            task.tagged_at,
            task.options,
            task.asset,
            task.sent,
        )
        plans.append(Planned(json_sidecar.sidecar_path(image, settings.json_suffix), content))
    return plans


def preflight(image: Path, settings: SidecarSettings) -> None:
    """Given a photo about to be uploaded, raise SidecarError if its sidecars could not be
    written: a problem is found before the upload is paid for, not after. Their names must
    fit the file system, the folder must take new files, and what stands at their names
    must be a regular file we may replace (an XMP one that parses and is safe to merge)."""
    targets = []
    if "xmp" in settings.formats:
        targets.append(xmp.choose_path(image, settings.xmp_naming)[0])
    if "json" in settings.formats:
        targets.append(json_sidecar.sidecar_path(image, settings.json_suffix))
    limit = name_max(image.parent)
    for target in targets:
        length = len(os.fsencode(target.name))
        if length > limit:
            raise SidecarError(
                f"{target}: the sidecar's name is {length} bytes; this file system takes {limit}"
            )
    if not folder_writable(image.parent):
        raise SidecarError(f"{image.parent}: no sidecar can be written in this folder by this "
                           "daemon's user (permissions, or a read-only file system)")  # fmt: skip
    for target in targets:
        if check_target(target) is not None and target.suffix.lower() == ".xmp":
            existing = Snapshot.read(target, limit=xmp.MAX_BYTES).content
            if existing is not None:  # not gone since: it must merge
                xmp.parse(existing, str(target))


def write_sidecars(
    task: WriteTask, settings: SidecarSettings, rules: KeywordRules | None = None
) -> list[Planned]:
    """Given one stored result, write its sidecars; merge again if a photo manager rewrote
    the XMP meanwhile. Returns what was written."""
    return write_with_retry(lambda: plan_sidecars(task, settings, rules))
