"""What this daemon wrote into a sidecar, recorded in its own namespace (``vsync:``,
``urn:visionati-sync:xmp:1.0:``): the keywords it added, the keyword tree's root, its
description, the photo, the request and when. A re-tag reads it to replace only our earlier
keywords and description, never the user's; the sidecar-naming rule reads which photo a
sidecar was written for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from .editor import Editor
from .packet import VSYNC

KEYWORDS = f"{{{VSYNC}}}Keywords"
ROOT = f"{{{VSYNC}}}HierarchyRoot"
DESCRIPTION = f"{{{VSYNC}}}Description"
FILE = f"{{{VSYNC}}}File"
REQUEST_ID = f"{{{VSYNC}}}RequestID"
TAGGED_AT = f"{{{VSYNC}}}TaggedAt"


@dataclass(frozen=True)
class Provenance:
    """What the sidecar says we wrote last time (all empty in one we never wrote)."""

    keywords: list[str]
    root: str | None
    description: str | None
    file: str | None


def read(editor: Editor) -> Provenance:
    found = editor.find(KEYWORDS)
    return Provenance(
        keywords=found.values() if found is not None else [],
        root=editor.text(ROOT),
        description=editor.text(DESCRIPTION),
        file=editor.text(FILE),
    )


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def record(
    editor: Editor,
    *,
    keywords: Sequence[str],
    root: str,
    description: str | None,
    file_name: str,
    request_id: str,
    tagged_at: datetime,
) -> None:
    """Given what this merge wrote, record it (unchanged values leave the packet as it is)."""
    editor.set_bag(KEYWORDS, keywords)
    editor.set_simple(ROOT, root)
    editor.set_simple(DESCRIPTION, description)
    editor.set_simple(FILE, file_name)
    editor.set_simple(REQUEST_ID, request_id)
    editor.set_simple(TAGGED_AT, stamp(tagged_at))
