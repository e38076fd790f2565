"""The XMP sidecar: keywords and a description where photo managers look for them, merged
into whatever the sidecar already holds without losing any of it.

Its parts, in the order a write goes through them:

- ``naming``: which sidecar file belongs to the photo;
- ``packet``: reading it safely, and writing back every byte around the root element;
- ``merge``: the result into the packet, bytes in and bytes out, through
  ``keywords`` (where each program looks for keywords; the user's lists and ours),
  ``provenance`` (what we wrote last time, in our own ``vsync:`` namespace) and
  ``editor`` (a property changed where it stands).

- ``unmerge``: what ``merge`` added taken out again (`untag`), bytes in and bytes out.

``plan`` joins them for one photo; ``sidecars.atomic`` writes what it decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...records import xml_text
from ..atomic import Planned, Snapshot
from .editor import Editor
from .keywords import DC_SUBJECT, HIERARCHICAL
from .merge import DESCRIPTION, XmpResult, XmpSettings, description_from_asset, merge
from .naming import choose_path, written_for
from .packet import MAX_BYTES, XmpError, parse
from .unmerge import unmerge

__all__ = [
    "MAX_BYTES",
    "XmpError",
    "XmpResult",
    "XmpSettings",
    "choose_path",
    "description_from_asset",
    "merge",
    "parse",
    "plan",
    "plan_at",
    "summary",
    "unmerge",
    "written_for",
    "xml_text",
]


def plan(image: Path, result: XmpResult, settings: XmpSettings, naming: str = "append") -> Planned:
    """Given a photo and a result, read its sidecar (if any) and decide the merged bytes."""
    path, note = choose_path(image, naming)
    return plan_at(path, note, result, settings)


def plan_at(path: Path, note: str | None, result: XmpResult, settings: XmpSettings) -> Planned:
    """Given a sidecar's path (chosen) and a result, read it and decide the merged bytes."""
    snapshot = Snapshot.read(path, limit=MAX_BYTES)
    content = merge(snapshot.content, result, settings, name=str(path))
    return Planned(path, content, snapshot, note)


@dataclass(frozen=True)
class Summary:
    """What photo managers show of a sidecar: its keywords and its description."""

    keywords: list[str]
    hierarchical: list[str]
    description: str | None


def summary(content: bytes | None, name: str = "sidecar") -> Summary:
    """Given a sidecar's bytes (None: there is none), what photo managers show of it."""
    if content is None:
        return Summary([], [], None)
    editor = Editor(parse(content, name))

    def values(tag: str) -> list[str]:
        found = editor.find(tag)
        return [v for v in found.values() if v] if found is not None else []

    return Summary(
        values(DC_SUBJECT.tag), values(HIERARCHICAL.tag), editor.text(DESCRIPTION) or None
    )
