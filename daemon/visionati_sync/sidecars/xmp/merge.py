"""Merging a result into an XMP sidecar: a pure function from (the sidecar's bytes, the
result, the settings) to new bytes, so that every rule is tested with no disk.

An existing sidecar is merged into, never replaced: every element, attribute, prefix, comment
and the ``<?xpacket?>`` wrapper stays. The same result merged twice gives back exactly the
bytes it was given. A photo without a sidecar gets one from a template.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from ... import __version__
from ...records import xml_text
from . import provenance
from .editor import Editor
from .keywords import DC_SUBJECT, HIERARCHICAL, TAGS_LIST, Keyword, merge_keywords
from .packet import NAMESPACES, PACKET_ID, RDF, X, parse, serialize

DESCRIPTION = f"{{{NAMESPACES['dc']}}}description"
TIFF_DESCRIPTION = f"{{{NAMESPACES['tiff']}}}ImageDescription"
ALT_TEXT = f"{{{NAMESPACES['Iptc4xmpCore']}}}AltTextAccessibility"


DESCRIPTIONS = {"dc:description": DESCRIPTION, "Iptc4xmpCore:AltTextAccessibility": ALT_TEXT}


@dataclass(frozen=True)
class XmpSettings:
    overwrite_description: bool = False


@dataclass(frozen=True)
class XmpResult:
    """What this daemon wants in the sidecar for one photo."""

    file_name: str
    request_id: str
    tagged_at: datetime
    keywords: tuple[Keyword, ...]  # paths (``sidecars.keywording``)
    description: str | None = None
    alt_text: bool = False


def description_from_asset(asset: dict[str, Any], sources: Sequence[str] = ()) -> str | None:
    """Given an asset, return the description from the most preferred source, else the first."""
    entries = [
        d
        for d in asset.get("descriptions") or []
        if isinstance(d, dict) and str(d.get("description") or "").strip()
    ]
    if not entries:
        return None
    for source in sources:
        for entry in entries:
            if entry.get("source") == source:
                return xml_text(str(entry["description"])).strip()
    return xml_text(str(entries[0]["description"])).strip()


def merge(
    existing: bytes | None, result: XmpResult, settings: XmpSettings, name: str = ""
) -> bytes:
    """Given a sidecar's bytes (None: there is none yet) and a result, return the new bytes."""
    if existing is None:
        return _fresh(result)
    document = parse(existing, name or "sidecar")
    editor = Editor(document)
    before = provenance.read(editor)
    added, created = merge_keywords(editor, result.keywords, before.keywords)
    description, made = _merge_description(editor, result, settings, before.description)
    still = [c for c in before.created if c == provenance.SIDECAR or editor.find(tag_of(c))]
    provenance.record(
        editor,
        keywords=added,
        created=list(dict.fromkeys([*still, *created, *made])),
        description=description,
        file_name=result.file_name,
        request_id=result.request_id,
        tagged_at=result.tagged_at,
    )
    return serialize(document) if editor.changed else existing


def tag_of(qname: str) -> str:
    """Given a property we record as created (``lr:hierarchicalSubject``), its tag."""
    prefix, _, name = qname.partition(":")
    return f"{{{NAMESPACES.get(prefix, prefix)}}}{name}"


def _fresh(result: XmpResult) -> bytes:
    """A sidecar of our own from a template: what ``merge`` would build into an empty packet
    (a backfill writes mostly these), without building it element by element; it records
    that the sidecar itself is ours."""
    keywords = list(dict.fromkeys(result.keywords))
    created = [p.qname for p in (DC_SUBJECT, HIERARCHICAL, TAGS_LIST) if keywords]

    def bag(tag: str, kind: str, values: Iterable[str]) -> str:
        items = "".join(f"\n     <rdf:li>{escape(v)}</rdf:li>" for v in values)
        return f"\n   <{tag}>\n    <rdf:{kind}>{items}\n    </rdf:{kind}>\n   </{tag}>"

    def alt(tag: str, text: str) -> str:
        return (
            f'\n   <{tag}>\n    <rdf:Alt>\n     <rdf:li xml:lang="x-default">{escape(text)}'
            f"</rdf:li>\n    </rdf:Alt>\n   </{tag}>"
        )

    def simple(tag: str, text: str) -> str:
        return f"\n   <{tag}>{escape(text)}</{tag}>"

    body = ""
    if keywords:
        leaves = dict.fromkeys(DC_SUBJECT.value(k) for k in keywords)
        body += bag("dc:subject", "Bag", leaves)
        body += bag("lr:hierarchicalSubject", "Bag", (HIERARCHICAL.value(k) for k in keywords))
        body += bag("digiKam:TagsList", "Seq", (TAGS_LIST.value(k) for k in keywords))
    declarations = "".join(
        f' xmlns:{p}="{NAMESPACES[p]}"' for p in ("dc", "lr", "digiKam", "vsync")
    )
    if result.description:
        body += alt("dc:description", result.description)
        created.append("dc:description")
        if result.alt_text:
            body += alt("Iptc4xmpCore:AltTextAccessibility", result.description)
            declarations += f' xmlns:Iptc4xmpCore="{NAMESPACES["Iptc4xmpCore"]}"'
            created.append("Iptc4xmpCore:AltTextAccessibility")
    if keywords:
        body += bag("vsync:Keywords", "Bag", dict.fromkeys(k[-1] for k in keywords))
        body += bag("vsync:KeywordPaths", "Bag", ("|".join(k) for k in keywords))
    body += bag("vsync:Created", "Bag", [*created, provenance.SIDECAR])
    body += simple("vsync:Description", result.description) if result.description else ""
    body += simple("vsync:File", result.file_name)
    body += simple("vsync:RequestID", result.request_id)
    body += simple("vsync:TaggedAt", provenance.stamp(result.tagged_at))
    return (
        f'<?xpacket begin="\ufeff" id="{PACKET_ID}"?>\n'
        f'<x:xmpmeta xmlns:x="{X}" x:xmptk="visionati-sync {__version__}">\n'
        f' <rdf:RDF xmlns:rdf="{RDF}">\n'
        f'  <rdf:Description rdf:about=""{declarations}>{body}\n  </rdf:Description>\n'
        " </rdf:RDF>\n</x:xmpmeta>\n"
        '<?xpacket end="w"?>\n'
    ).encode()


def _merge_description(
    editor: Editor, result: XmpResult, settings: XmpSettings, ours_before: str | None
) -> tuple[str | None, list[str]]:
    """Write our description unless the user has one; return what we wrote (or still own),
    and the properties this created."""
    current = editor.text(DESCRIPTION)
    tiff = editor.text(TIFF_DESCRIPTION)
    ours = result.description
    is_ours = bool(current) and current == ours_before
    if current and not is_ours:
        return None, []  # the user's words: never replaced
    if tiff and tiff != ours_before:
        return (ours_before if is_ours else None), []  # Immich shows the user's tiff one
    if is_ours and not settings.overwrite_description:
        return ours_before, []
    if not ours:
        return (ours_before if is_ours else None), []
    created = [name for name, tag in DESCRIPTIONS.items() if editor.find(tag) is None]
    editor.set_alt(DESCRIPTION, ours)
    if result.alt_text:
        alt = editor.text(ALT_TEXT)
        if not alt or alt == ours_before:
            editor.set_alt(ALT_TEXT, ours)
    return ours, [name for name in created if editor.find(DESCRIPTIONS[name]) is not None]
