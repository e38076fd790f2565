"""What this daemon wrote into a sidecar, recorded in its own namespace (``vsync:``,
``urn:visionati-sync:xmp:1.0:``): the keywords it added (``Keywords``, their leaves, and
``KeywordPaths``, each path joined by ``|``), what it created (the sidecar itself, as
``sidecar``, and properties by name), its description, the photo, the request and when. A
re-tag reads it to replace only our earlier keywords and description, never the user's;
`untag` to take them out again and remove what we created; the sidecar-naming rule to know
which photo a sidecar was written for. Sidecars written before paths were recorded hold
``HierarchyRoot``: their keywords' paths are that root and the keyword."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from .editor import Editor
from .packet import VSYNC

KEYWORDS = f"{{{VSYNC}}}Keywords"
PATHS = f"{{{VSYNC}}}KeywordPaths"
CREATED = f"{{{VSYNC}}}Created"
ROOT = f"{{{VSYNC}}}HierarchyRoot"  # sidecars written before paths were recorded
DESCRIPTION = f"{{{VSYNC}}}Description"
FILE = f"{{{VSYNC}}}File"
REQUEST_ID = f"{{{VSYNC}}}RequestID"
TAGGED_AT = f"{{{VSYNC}}}TaggedAt"
EVERY = (KEYWORDS, PATHS, CREATED, ROOT, DESCRIPTION, FILE, REQUEST_ID, TAGGED_AT)
SIDECAR = "sidecar"  # in Created: the sidecar file is ours


@dataclass(frozen=True)
class Provenance:
    """What the sidecar says we wrote last time (all empty in one we never wrote)."""

    keywords: list[tuple[str, ...]]
    created: list[str]
    description: str | None
    file: str | None

    @property
    def any(self) -> bool:
        return bool(self.keywords or self.created or self.description or self.file)


def read(editor: Editor) -> Provenance:
    paths = editor.find(PATHS)
    if paths is not None:
        keywords = [tuple(value.split("|")) for value in paths.values() if value]
    else:
        leaves = editor.find(KEYWORDS)
        root = editor.text(ROOT)
        keywords = [
            (root, leaf) if root else (leaf,)
            for leaf in (leaves.values() if leaves is not None else [])
        ]
    created = editor.find(CREATED)
    return Provenance(
        keywords=keywords,
        created=created.values() if created is not None else [],
        description=editor.text(DESCRIPTION),
        file=editor.text(FILE),
    )


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def record(
    editor: Editor,
    *,
    keywords: Sequence[tuple[str, ...]],
    created: Sequence[str],
    description: str | None,
    file_name: str,
    request_id: str,
    tagged_at: datetime,
) -> None:
    """Given what this merge wrote, record it (unchanged values leave the packet as it is)."""
    editor.set_bag(KEYWORDS, list(dict.fromkeys(k[-1] for k in keywords)))
    editor.set_bag(PATHS, ["|".join(k) for k in keywords])
    editor.set_bag(CREATED, created)
    editor.set_simple(ROOT, None)
    editor.set_simple(DESCRIPTION, description)
    editor.set_simple(FILE, file_name)
    editor.set_simple(REQUEST_ID, request_id)
    editor.set_simple(TAGGED_AT, stamp(tagged_at))


def erase(editor: Editor) -> None:
    """Take every record of ours out of the sidecar."""
    for tag in EVERY:
        editor.set_simple(tag, None)
