"""Tags inside the file itself (``sidecars.embed``, or a target that reads only there): what
to ask exiftool to change, decided from what the file holds now. Pure: exiftool's ``-json``
reading in, its arguments out; ``sidecars.embedding`` runs them and guards the file.

As the Metadata Working Group says: XMP is always written (``dc:subject``, the hierarchy in
``lr:hierarchicalSubject``, and ``digiKam:TagsList`` where the file has one); IPTC IIM only
where the file already has it, kept in step (Keywords, Caption-Abstract); a description only
where the file has none. What we added is recorded in the file (``vsync:Embedded``, JSON) so
that `untag` takes out exactly that, and the XMP toolkit's name is kept as it was: a file
untagged gives back exiftool's dump as before.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .xmp.keywords import Keyword

# exiftool's own config: our namespace, the one sidecars use for their provenance
EXIFTOOL_CONFIG = """%Image::ExifTool::UserDefined = (
    'Image::ExifTool::XMP::Main' => {
        vsync => { SubDirectory => { TagTable => 'Image::ExifTool::UserDefined::vsync' } },
    },
);
%Image::ExifTool::UserDefined::vsync = (
    GROUPS => { 0 => 'XMP', 1 => 'XMP-vsync', 2 => 'Other' },
    NAMESPACE => { 'vsync' => 'urn:visionati-sync:xmp:1.0:' },
    WRITABLE => 'string',
    Embedded => { },
);
1;
"""
SUBJECT, HIERARCHY = "XMP-dc:Subject", "XMP-lr:HierarchicalSubject"
TAGS_LIST = "XMP-digiKam:TagsList"
IPTC_KEYWORDS, CAPTION = "IPTC:Keywords", "IPTC:Caption-Abstract"
DESCRIPTION, TOOLKIT, PROVENANCE = "XMP-dc:Description", "XMP-x:XMPToolkit", "XMP-vsync:Embedded"
EXIF_DESCRIPTION = "IFD0:ImageDescription"
# what `read` asks exiftool for
READ_ARGS = ("-json", "-G1", "-a", "-struct", "-XMP:all", "-IPTC:all", f"-{EXIF_DESCRIPTION}")
IPTC_KEYWORD_BYTES = 64  # IIM's limit for one keyword
# records exiftool adds on its own when it writes IIM: taken out again by `untag` where the
# file had none
IPTC_ADDED = ("IPTC:EnvelopeRecordVersion", "IPTC:ApplicationRecordVersion")


@dataclass(frozen=True)
class Held:
    """What a file holds now, of what we read or write."""

    tags: dict[str, list[str]]  # the lists and texts we look at, by exiftool's group:name
    has_iptc: bool
    toolkit: str | None
    provenance: dict[str, Any]  # what we added before ({}: nothing)
    absent: tuple[str, ...] = ()  # of ``IPTC_ADDED``, those the file has not


def held(reading: dict[str, Any]) -> Held:
    """Given exiftool's ``-json`` reading of one file (``READ_ARGS``), what it holds."""

    def values(tag: str) -> list[str]:
        value = reading.get(tag)
        if value is None or value == "":
            return []
        items = value if isinstance(value, list) else [value]
        return [str(item) for item in items]

    try:
        provenance = json.loads(str(reading.get(PROVENANCE) or "{}"))
    except ValueError:
        provenance = {}
    tags = [SUBJECT, HIERARCHY, TAGS_LIST, IPTC_KEYWORDS, CAPTION, DESCRIPTION, EXIF_DESCRIPTION]
    return Held(
        tags={tag: values(tag) for tag in tags},
        has_iptc=any(key.startswith("IPTC:") for key in reading),
        toolkit=str(reading[TOOLKIT]) if TOOLKIT in reading else None,
        provenance=provenance if isinstance(provenance, dict) else {},
        absent=tuple(tag for tag in IPTC_ADDED if tag not in reading),
    )


@dataclass(frozen=True)
class Embedding:
    """What we ask of exiftool for one file (no arguments: the file has it all already)."""

    args: list[str]
    provenance: dict[str, Any]


def embed(
    now: Held, keywords: Sequence[Keyword], description: str | None, file: str, request: str
) -> Embedding:
    """Given what a file holds, our keywords (paths) and description, the arguments that add
    what is missing, and the provenance that records it."""
    added: dict[str, list[str]] = {}
    leaves = list(dict.fromkeys(k[-1] for k in keywords))
    wanted: list[tuple[str, list[str]]] = [
        (SUBJECT, leaves), (HIERARCHY, ["|".join(k) for k in keywords]),
    ]  # fmt: skip
    if now.tags[TAGS_LIST]:
        wanted.append((TAGS_LIST, ["/".join(k) for k in keywords]))
    if now.has_iptc:
        fits = [w for w in leaves if len(w.encode()) <= IPTC_KEYWORD_BYTES]
        wanted.append((IPTC_KEYWORDS, fits))
    for tag, values in wanted:
        there = {v.casefold() for v in now.tags[tag]}
        missing = [v for v in values if v.casefold() not in there]
        if missing:
            added[tag] = missing
    described: list[str] = []
    if description and not any(now.tags[t] for t in (DESCRIPTION, CAPTION, EXIF_DESCRIPTION)):
        described = [DESCRIPTION] + ([CAPTION] if now.has_iptc else [])
    if not added and not described:
        return Embedding([], now.provenance)
    earlier = now.provenance
    record: dict[str, Any] = {
        "file": file, "request": request,
        "added": _union(earlier.get("added", {}), added),
        "described": sorted(set(earlier.get("described", [])) | set(described)),
        "description": description if described else earlier.get("description"),
        "toolkit": earlier.get("toolkit", now.toolkit),  # as the file was before our first
        "absent": earlier.get("absent", list(now.absent)),
    }  # fmt: skip
    args = [f"-{tag}+={value}" for tag, values in added.items() for value in values]
    args += [f"-{tag}={description}" for tag in described]
    args += _keep_toolkit(record["toolkit"])
    args.append(f"-{PROVENANCE}={json.dumps(record, ensure_ascii=False, sort_keys=True)}")
    return Embedding(args, record)


def take_back(now: Held) -> list[str]:
    """Given what a file holds, the arguments that take out what we added (none: nothing
    of ours is in it); what the user changed since is left as it is."""
    record = now.provenance
    if not record:
        return []
    args = []
    for tag, values in dict(record.get("added", {})).items():
        there = {v.casefold() for v in now.tags.get(tag, [])}
        args += [f"-{tag}-={value}" for value in values if value.casefold() in there]
    ours = record.get("description")
    for tag in record.get("described", []):
        if ours is not None and now.tags.get(tag) == [ours]:  # not the user's since
            args.append(f"-{tag}=")
    if record.get("added", {}).get(IPTC_KEYWORDS) or CAPTION in record.get("described", []):
        args += [f"-{tag}=" for tag in record.get("absent", []) if tag in IPTC_ADDED]
    args += _keep_toolkit(record.get("toolkit"))
    args.append(f"-{PROVENANCE}=")
    return args


def _keep_toolkit(toolkit: str | None) -> list[str]:
    """exiftool names itself as the XMP toolkit when it writes; the file's own stays."""
    return [f"-{TOOLKIT}={toolkit}" if toolkit else f"-{TOOLKIT}="]


def _union(earlier: dict[str, list[str]], now: dict[str, list[str]]) -> dict[str, list[str]]:
    merged = {tag: list(values) for tag, values in earlier.items()}
    for tag, values in now.items():
        merged[tag] = list(dict.fromkeys([*merged.get(tag, []), *values]))
    return merged
