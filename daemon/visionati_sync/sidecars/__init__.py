"""Sidecar writers: each format decides its bytes (``plan``), and one batch writes them all
atomically, so that a whole batch of photos costs two disk flushes, not two per file."""

from __future__ import annotations

import os
from pathlib import Path

from ..config import SidecarSettings
from ..records import WriteTask, shown
from ..rules.keywording import KeywordRules, choose
from ..rules.targets import Placement, place
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
    "KeywordRules", "Planned", "SidecarError", "WriteBatch", "placement", "plan_sidecars",
    "preflight", "write_sidecars", "xmp_paths", "xmp_result",
]  # fmt: skip


def xmp_result(task: WriteTask, settings: SidecarSettings, rules: KeywordRules) -> xmp.XmpResult:
    """Given a stored result and the folder's keyword rules, decide what goes into the XMP
    sidecar: where a reviewer approved it, exactly the keywords kept and the description as
    edited."""
    keywords = choose(task.asset, rules)
    description = xmp.description_from_asset(task.asset, settings.description_sources)
    if task.approval is not None:
        kept = task.approval.kept
        keywords = tuple(path for path in keywords if "|".join(path).casefold() in kept)
        description = task.approval.description
    return xmp.XmpResult(
        file_name=shown(Path(task.path).name),
        request_id=task.request_id,
        tagged_at=task.tagged_at,
        keywords=keywords,
        description=description,
        alt_text=task.options.get("role") == "alttext" and not task.options.get("prompt"),
    )


def placement(image: Path, settings: SidecarSettings) -> Placement:
    """Given a file and its folder's sidecar settings, where its tags go."""
    return place(image.name, settings.targets, settings.xmp_naming, settings.embed)


def xmp_paths(image: Path, settings: SidecarSettings) -> list[tuple[Path, str | None]]:
    """Given a file, every XMP sidecar its targets read (none when ``xmp`` is not among the
    formats), each with a note when its name fell back; two wishes that land on one file
    (a stem owned by another photo) are one sidecar."""
    if "xmp" not in settings.formats:
        return []
    where = placement(image, settings)
    paths: dict[Path, str | None] = {}
    for naming in where.namings:
        path, note = xmp.choose_path(image, naming, exact=where.exact)
        if path not in paths or note is None:
            paths[path] = note
    return list(paths.items())


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
    plans: list[Planned] = []
    paths = xmp_paths(image, settings)
    if paths:  # each merged on its own, so each keeps what its program wrote there
        result = xmp_result(task, settings, rules or KeywordRules(root=settings.hierarchy_root))
        xmp_settings = xmp.XmpSettings(settings.overwrite_description)
        plans.extend(xmp.plan_at(path, note, result, xmp_settings) for path, note in paths)
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
    targets = [path for path, _ in xmp_paths(image, settings)]
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
