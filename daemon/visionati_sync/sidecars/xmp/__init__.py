"""The XMP sidecar: keywords and a description where photo managers look for them, merged
into whatever the sidecar already holds without losing any of it.

Its parts, in the order a write goes through them:

- ``naming``: which sidecar file belongs to the photo;
- ``packet``: reading it safely, and writing back every byte around the root element;
- ``merge``: the result into the packet, bytes in and bytes out, through
  ``keywords`` (where each program looks for keywords; the user's lists and ours),
  ``provenance`` (what we wrote last time, in our own ``vsync:`` namespace) and
  ``editor`` (a property changed where it stands).

``plan`` joins them for one photo; ``sidecars.atomic`` writes what it decides.
"""

from __future__ import annotations

from pathlib import Path

from ..atomic import Planned, Snapshot
from .keywords import keywords_from_asset
from .merge import XmpResult, XmpSettings, description_from_asset, merge
from .naming import choose_path
from .packet import MAX_BYTES, XmpError, parse, xml_text

__all__ = [
    "MAX_BYTES",
    "XmpError",
    "XmpResult",
    "XmpSettings",
    "choose_path",
    "description_from_asset",
    "keywords_from_asset",
    "merge",
    "parse",
    "plan",
    "xml_text",
]


def plan(image: Path, result: XmpResult, settings: XmpSettings, naming: str = "append") -> Planned:
    """Given a photo and a result, read its sidecar (if any) and decide the merged bytes."""
    path, note = choose_path(image, naming)
    snapshot = Snapshot.read(path, limit=MAX_BYTES)
    content = merge(snapshot.content, result, settings, name=str(path))
    return Planned(path, content, snapshot, note)
