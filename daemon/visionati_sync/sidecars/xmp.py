"""The XMP sidecar: keywords and a description where photo managers look for them, merged
into whatever the sidecar already holds without losing any of it.

Each program reads keywords from its own property and most take only the first non-empty one
in their own order (Immich: digiKam:TagsList, then lr:hierarchicalSubject; darktable:
lr:hierarchicalSubject, then dc:subject; digiKam: TagsList, LastKeywordXMP,
hierarchicalSubject, CatalogSets, dc:subject). So every keyword property gets the complete
list, the user's keywords and ours, in its own format, and one we create is seeded with the
user's keywords: creating lr:hierarchicalSubject with only our tags would hide the user's own
from darktable.

What this daemon added is recorded in its own namespace (``vsync:``), so a re-tag removes our
earlier keywords and never the user's. ``merge`` is pure: bytes in, bytes out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

from .. import __version__
from .atomic import Planned, SidecarError, Snapshot, write_with_retry

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XML = "http://www.w3.org/XML/1998/namespace"
X = "adobe:ns:meta/"
VSYNC = "urn:visionati-sync:xmp:1.0:"
NAMESPACES = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "digiKam": "http://www.digikam.org/ns/1.0/",
    "MicrosoftPhoto": "http://ns.microsoft.com/photo/1.0/",
    "mediapro": "http://ns.iview-multimedia.com/mediapro/1.0/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "Iptc4xmpCore": "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/",
    "vsync": VSYNC,
}
MAX_BYTES = 32 * 1024 * 1024
PACKET_ID = "W5M0MpCehiHzreSzNTczkc9d"


class XmpError(SidecarError):
    """An existing sidecar we will not touch: unparseable, unsafe or too large."""


@dataclass(frozen=True)
class KeywordProperty:
    """One property that holds keywords, and how a keyword is written into it."""

    prefix: str
    name: str
    container: str  # Bag or Seq, for a property we create
    separator: str | None  # None: flat keywords; else a hierarchy path separator

    @property
    def tag(self) -> str:
        return f"{{{NAMESPACES[self.prefix]}}}{self.name}"

    def value(self, keyword: str, root: str) -> str:
        if self.separator is None or not root:
            return keyword
        return f"{root}{self.separator}{keyword}"

    def leaf(self, value: str) -> str:
        return value if self.separator is None else value.rsplit(self.separator, 1)[-1]

    def convert(self, value: str, source: KeywordProperty) -> str:
        """Given a user's keyword as ``source`` writes it, write it as this property does."""
        if self.separator is None:
            return source.leaf(value)
        if source.separator is None:
            return value
        return value.replace(source.separator, self.separator)


DC_SUBJECT = KeywordProperty("dc", "subject", "Bag", None)
HIERARCHICAL = KeywordProperty("lr", "hierarchicalSubject", "Bag", "|")
TAGS_LIST = KeywordProperty("digiKam", "TagsList", "Seq", "/")
ALWAYS = (DC_SUBJECT, HIERARCHICAL, TAGS_LIST)
WHEN_PRESENT = (
    KeywordProperty("MicrosoftPhoto", "LastKeywordXMP", "Bag", "/"),
    KeywordProperty("MicrosoftPhoto", "LastKeywordIPTC", "Bag", None),
    KeywordProperty("mediapro", "CatalogSets", "Bag", "|"),
)
DESCRIPTION = f"{{{NAMESPACES['dc']}}}description"
TIFF_DESCRIPTION = f"{{{NAMESPACES['tiff']}}}ImageDescription"
ALT_TEXT = f"{{{NAMESPACES['Iptc4xmpCore']}}}AltTextAccessibility"


@dataclass(frozen=True)
class XmpSettings:
    hierarchy_root: str = "Visionati"
    overwrite_description: bool = False


@dataclass(frozen=True)
class XmpResult:
    """What this daemon wants in the sidecar for one photo."""

    file_name: str
    request_id: str
    tagged_at: datetime
    keywords: tuple[str, ...]
    description: str | None = None
    alt_text: bool = False


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(value: str) -> str:
    """Given text from the API, drop what XML cannot hold (control characters)."""
    return _NOT_XML.sub("", value)


def keywords_from_asset(
    asset: dict[str, Any], max_keywords: int | None = None, min_score: float | None = None
) -> tuple[str, ...]:
    """Given an asset, return its tag names, best first, de-duplicated case-insensitively."""
    tags = asset.get("tags")
    if not isinstance(tags, dict):
        return ()
    best: dict[str, tuple[float, str]] = {}
    for name, detections in tags.items():
        scores = [
            float(d["score"])
            for d in (detections if isinstance(detections, list) else [])
            if isinstance(d, dict) and isinstance(d.get("score"), int | float)
        ]
        score = max(scores, default=0.0)
        if min_score is not None and score < min_score:
            continue
        label = xml_text(str(name)).strip()
        if not label:
            continue
        key = label.casefold()
        if key not in best or score > best[key][0]:
            best[key] = (score, label)
    ordered = sorted(best.values(), key=lambda item: (-item[0], item[1].casefold()))
    labels = tuple(label for _, label in ordered)
    return labels[:max_keywords] if max_keywords is not None else labels


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


# -- parsing ---------------------------------------------------------------------------------


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        remove_comments=False,
        remove_pis=False,
        strip_cdata=False,
    )


@dataclass
class _Document:
    prefix: bytes  # everything before the root element, kept byte for byte
    root: Any
    suffix: bytes  # everything after it
    whole: bool = False  # the prolog could not be kept as bytes: serialise the whole tree


def parse(data: bytes, name: str = "sidecar") -> _Document:
    """Given a sidecar's bytes, parse them safely, or raise XmpError saying why not."""
    if len(data) > MAX_BYTES:
        raise XmpError(f"{name}: larger than {MAX_BYTES // (1024 * 1024)} MB; left unchanged")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise XmpError(f"{name}: has a DTD or entity declarations; refused, left unchanged")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise XmpError(f"{name}: cannot parse XMP ({exc.msg}); left unchanged") from None
    if root.getroottree().docinfo.internalDTD is not None:
        raise XmpError(f"{name}: has a DTD; refused, left unchanged")
    if _rdf(root) is None:
        raise XmpError(f"{name}: no rdf:RDF element: not an XMP packet; left unchanged")
    try:
        start, end = _root_span(data, root)
    except ValueError:  # re-serialise the whole document instead
        return _Document(b"", root, b"", whole=True)
    return _Document(data[:start], root, data[end:])


def _root_span(data: bytes, root: Any) -> tuple[int, int]:
    """Where the root element starts and ends in the original bytes, so that the prolog and
    trailer (``<?xml?>``, ``<?xpacket?>``, padding) are kept byte for byte. Raises
    ValueError when the bytes cannot be searched (e.g. UTF-16)."""
    local = _local(root)
    qname = f"{root.prefix}:{local}" if root.prefix else local
    position = 0
    while True:
        start = data.index(b"<", position)
        if data.startswith(b"<?", start):
            position = data.index(b"?>", start) + 2
        elif data.startswith(b"<!--", start):
            position = data.index(b"-->", start) + 3
        else:
            break
    if not data.startswith(b"<" + qname.encode(), start):
        raise ValueError("root element not found where expected")
    closing = data.rfind(b"</" + qname.encode())
    if closing != -1:
        return start, data.index(b">", closing) + 1
    return start, data.index(b"/>", start) + 2  # a self-closing root


def _local(element: Any) -> str:
    return str(etree.QName(element).localname)


def _rdf(root: Any) -> Any:
    if root.tag == f"{{{RDF}}}RDF":
        return root
    return root.find(f".//{{{RDF}}}RDF")


def _new_document() -> _Document:
    text = (
        f'<x:xmpmeta xmlns:x="{X}" x:xmptk="visionati-sync {__version__}">\n'
        f' <rdf:RDF xmlns:rdf="{RDF}">\n'
        '  <rdf:Description rdf:about=""'
        + "".join(f' xmlns:{p}="{NAMESPACES[p]}"' for p in ("dc", "lr", "digiKam", "vsync"))
        + "/>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>"
    )
    root = etree.fromstring(text.encode(), _parser())
    prefix = f'<?xpacket begin="\ufeff" id="{PACKET_ID}"?>\n'.encode()
    return _Document(prefix, root, b'\n<?xpacket end="w"?>\n')


def serialize(document: _Document) -> bytes:
    if document.whole:
        return bytes(etree.tostring(document.root.getroottree(), encoding="UTF-8"))
    body = etree.tostring(document.root, encoding="UTF-8", xml_declaration=False)
    return bytes(document.prefix + body + document.suffix)


# -- reading and writing properties ------------------------------------------------------


@dataclass
class _Found:
    """A property as it stands: an element, or an attribute of an rdf:Description."""

    description: Any
    element: Any = None
    attribute: str | None = None

    def values(self) -> list[str]:
        if self.attribute is not None:
            return [self.description.get(self.attribute)]
        container = _container(self.element)
        if container is None:
            text = (self.element.text or "").strip()
            return [text] if text else []
        return [(li.text or "").strip() for li in container.iterchildren(f"{{{RDF}}}li")]


def _container(element: Any) -> Any:
    for kind in ("Bag", "Seq", "Alt"):
        found = element.find(f"{{{RDF}}}{kind}")
        if found is not None:
            return found
    return None


@dataclass
class _Editor:
    document: _Document
    changed: bool = False
    descriptions: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        rdf = _rdf(self.document.root)
        self.descriptions = list(rdf.iterchildren(f"{{{RDF}}}Description"))
        if not self.descriptions:
            description = etree.SubElement(rdf, f"{{{RDF}}}Description")
            description.set(f"{{{RDF}}}about", "")
            self.descriptions.append(description)
            self.changed = True

    def find(self, tag: str) -> _Found | None:
        """A property is updated where it stands, in whichever rdf:Description holds it."""
        for description in self.descriptions:
            if tag in description.attrib:
                return _Found(description, attribute=tag)
            element = description.find(tag)
            if element is not None:
                return _Found(description, element=element)
        return None

    def _home(self, tag: str) -> Any:
        """The rdf:Description a new property goes into, its namespace declared on it."""
        namespace = tag[1:].split("}")[0]
        description = self.descriptions[0]
        in_scope = description.nsmap
        if namespace in in_scope.values():
            return description
        # lxml cannot add a declaration to an element: rebuild it once, declaring every
        # namespace a merge writes to, so that later properties need no second rebuild
        wanted = [namespace, *(NAMESPACES[p] for p in ("dc", "lr", "digiKam", "vsync"))]
        declared = dict(in_scope)
        added: dict[str, str] = {}
        for uri in dict.fromkeys(wanted):
            if uri in declared.values():
                continue
            prefix = next(p for p, known in NAMESPACES.items() if known == uri)
            candidate, n = prefix, 1
            while candidate in declared:
                n += 1
                candidate = f"{prefix}{n}"
            declared[candidate] = added[candidate] = uri
        parent = description.getparent()
        inherited = parent.nsmap if parent is not None else {}
        own = {p: u for p, u in in_scope.items() if inherited.get(p) != u}
        replacement = etree.Element(description.tag, nsmap={**own, **added})
        for key, value in description.attrib.items():
            replacement.set(key, value)
        replacement.text, replacement.tail = description.text, description.tail
        for child in list(description):
            replacement.append(child)
        parent.replace(description, replacement)
        self.descriptions[0] = replacement
        return replacement

    def set_list(self, prop: KeywordProperty, wanted: list[str]) -> None:
        """Make the property hold exactly ``wanted``: unchanged items stay as they are."""
        found = self.find(prop.tag)
        if (found is None and not wanted) or (found is not None and found.values() == wanted):
            return
        if (
            found is not None
            and found.element is not None
            and _container(found.element) is not None
        ):
            container = _container(found.element)
            keep = set(wanted)
            for li in list(container.iterchildren(f"{{{RDF}}}li")):
                if (li.text or "").strip() not in keep:
                    _remove(li)
            present = {(li.text or "").strip() for li in container.iterchildren(f"{{{RDF}}}li")}
            for value in wanted:
                if value not in present:
                    _append(container, f"{{{RDF}}}li", value)
            self.changed = True
            return
        home = found.description if found is not None else self._home(prop.tag)
        if found is not None:  # a simple value or an attribute: becomes a proper list
            if found.attribute is not None:
                del home.attrib[found.attribute]
            else:
                _remove(found.element)
        if wanted:
            element = _append(home, prop.tag)
            container = _append(element, f"{{{RDF}}}{prop.container}")
            for value in wanted:
                _append(container, f"{{{RDF}}}li", value)
        self.changed = True

    def text(self, tag: str) -> str | None:
        found = self.find(tag)
        if found is None:
            return None
        if found.attribute is not None:
            return str(found.description.get(found.attribute))
        container = _container(found.element)
        if container is None:
            return (found.element.text or "").strip()
        items = list(container.iterchildren(f"{{{RDF}}}li"))
        for li in items:
            if li.get(f"{{{XML}}}lang") == "x-default":
                return (li.text or "").strip()
        return (items[0].text or "").strip() if items else ""

    def set_alt(self, tag: str, value: str) -> None:
        """Write a language alternative (x-default), replacing the property where it stands."""
        if self.text(tag) == value:
            return
        found = self.find(tag)
        home = found.description if found is not None else self._home(tag)
        if found is not None and found.element is not None:
            container = _container(found.element)
            items = list(container.iterchildren(f"{{{RDF}}}li")) if container is not None else []
            default = next((li for li in items if li.get(f"{{{XML}}}lang") == "x-default"), None)
            if default is not None:
                default.text = value
                self.changed = True
                return
            _remove(found.element)
        elif found is not None and found.attribute is not None:
            del home.attrib[found.attribute]
        element = _append(home, tag)
        alt = _append(element, f"{{{RDF}}}Alt")
        li = _append(alt, f"{{{RDF}}}li", value)
        li.set(f"{{{XML}}}lang", "x-default")
        self.changed = True

    def set_simple(self, tag: str, value: str | None) -> None:
        found = self.find(tag)
        if value is None:
            if found is not None:
                if found.attribute is not None:
                    del found.description.attrib[found.attribute]
                else:
                    _remove(found.element)
                self.changed = True
            return
        if found is not None and found.attribute is not None:
            if found.description.get(found.attribute) != value:
                found.description.set(found.attribute, value)
                self.changed = True
            return
        if found is not None and _container(found.element) is None:
            if (found.element.text or "") != value:
                found.element.text = value
                self.changed = True
            return
        if found is not None:
            _remove(found.element)
        _append(self._home(tag), tag, value)
        self.changed = True

    def set_bag(self, tag: str, values: Sequence[str]) -> None:
        self.set_list(KeywordProperty("vsync", tag.split("}")[1], "Bag", None), list(values))


def _blank(text: str | None) -> bool:
    return text is not None and text.strip() == ""


def _indent_of(parent: Any) -> tuple[str, str]:
    """The whitespace before a new last child of ``parent`` and after it, copied from the
    children already there; a parent without children indents one space deeper than itself."""
    if len(parent):
        if not _blank(parent.text):
            return "", ""  # written compactly: stay compact
        last = parent[-1]
        return parent.text, last.tail if _blank(last.tail) else ""
    previous = parent.getprevious()
    grandparent = parent.getparent()
    before: str | None = None
    if previous is not None:
        before = previous.tail
    elif grandparent is not None:
        before = grandparent.text
    own = before if before is not None and _blank(before) and "\n" in before else "\n"
    return own + " ", own


def _append(parent: Any, tag: str, text: str | None = None) -> Any:
    child_indent, closing = _indent_of(parent)
    last = parent[-1] if len(parent) else None
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    if last is None:
        parent.text = child_indent
    else:
        last.tail = child_indent
    element.tail = closing
    return element


def _remove(element: Any) -> None:
    parent = element.getparent()
    previous = element.getprevious()
    if previous is not None:
        previous.tail = element.tail
    else:
        parent.text = element.tail
    parent.remove(element)


# -- the merge -----------------------------------------------------------------------------


def _casefolded(values: Iterable[str]) -> set[str]:
    return {value.casefold() for value in values}


def merge(
    existing: bytes | None, result: XmpResult, settings: XmpSettings, name: str = ""
) -> bytes:
    """Given a sidecar's bytes (None: there is none yet) and a result, return the new bytes.

    The same result merged twice gives back exactly the bytes it was given.
    """
    if existing is None:
        return _fresh(result, settings)
    document = parse(existing, name or "sidecar")
    editor = _Editor(document)
    vsync = {key: f"{{{VSYNC}}}{key}" for key in ("Keywords", "HierarchyRoot", "Description")}
    previous_found = editor.find(vsync["Keywords"])
    previous = previous_found.values() if previous_found is not None else []
    previous_root = editor.text(vsync["HierarchyRoot"])
    previous_root = settings.hierarchy_root if previous_root is None else previous_root
    root = settings.hierarchy_root

    present = [p for p in (*ALWAYS, *WHEN_PRESENT) if editor.find(p.tag) is not None]
    users: dict[KeywordProperty, list[str]] = {}
    for prop in present:
        ours_before = {prop.value(k, previous_root) for k in previous}
        found = editor.find(prop.tag)
        assert found is not None
        users[prop] = [v for v in found.values() if v and v not in ours_before]
    user_flat = _casefolded(prop.leaf(v) for prop, values in users.items() for v in values)
    added = [k for k in result.keywords if k.casefold() not in user_flat]

    for prop in (*ALWAYS, *(p for p in WHEN_PRESENT if p in present)):
        base = users.get(prop)
        if base is None:  # a property we create starts with the user's keywords
            source = _seed_source(prop, users)
            seed = [prop.convert(v, source) for v in users[source]] if source else []
            base = list(dict.fromkeys(seed))
        wanted = list(base)  # the user's list as it is, duplicates and all
        seen = _casefolded(wanted)
        for keyword in added:
            value = prop.value(keyword, root)
            if value.casefold() not in seen:
                wanted.append(value)
                seen.add(value.casefold())
        if wanted or prop in present:
            editor.set_list(prop, wanted)

    written = _merge_description(editor, result, settings, vsync["Description"])
    editor.set_bag(vsync["Keywords"], added)
    editor.set_simple(vsync["HierarchyRoot"], root)
    editor.set_simple(vsync["Description"], written)
    editor.set_simple(f"{{{VSYNC}}}File", result.file_name)
    editor.set_simple(f"{{{VSYNC}}}RequestID", result.request_id)
    stamp = result.tagged_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    editor.set_simple(f"{{{VSYNC}}}TaggedAt", stamp)
    if existing is not None and not editor.changed:
        return existing
    return serialize(document)


def _fresh(result: XmpResult, settings: XmpSettings) -> bytes:
    """A sidecar of our own from a template: what ``merge`` would build into an empty packet
    (a backfill writes mostly these), without building it element by element."""
    root = settings.hierarchy_root
    keywords = list(dict.fromkeys(result.keywords))

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
        body += bag("dc:subject", "Bag", keywords)
        body += bag(
            "lr:hierarchicalSubject", "Bag", (HIERARCHICAL.value(k, root) for k in keywords)
        )
        body += bag("digiKam:TagsList", "Seq", (TAGS_LIST.value(k, root) for k in keywords))
    declarations = "".join(
        f' xmlns:{p}="{NAMESPACES[p]}"' for p in ("dc", "lr", "digiKam", "vsync")
    )
    if result.description:
        body += alt("dc:description", result.description)
        if result.alt_text:
            body += alt("Iptc4xmpCore:AltTextAccessibility", result.description)
            declarations += f' xmlns:Iptc4xmpCore="{NAMESPACES["Iptc4xmpCore"]}"'
    if keywords:
        body += bag("vsync:Keywords", "Bag", keywords)
    body += simple("vsync:HierarchyRoot", root)
    body += simple("vsync:Description", result.description) if result.description else ""
    body += simple("vsync:File", result.file_name)
    body += simple("vsync:RequestID", result.request_id)
    body += simple(
        "vsync:TaggedAt", result.tagged_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    return (
        f'<?xpacket begin="\ufeff" id="{PACKET_ID}"?>\n'
        f'<x:xmpmeta xmlns:x="{X}" x:xmptk="visionati-sync {__version__}">\n'
        f' <rdf:RDF xmlns:rdf="{RDF}">\n'
        f'  <rdf:Description rdf:about=""{declarations}>{body}\n  </rdf:Description>\n'
        " </rdf:RDF>\n</x:xmpmeta>\n"
        '<?xpacket end="w"?>\n'
    ).encode()


def _seed_source(
    prop: KeywordProperty, users: dict[KeywordProperty, list[str]]
) -> KeywordProperty | None:
    """Which existing property's user keywords seed a new one: the closest in form."""
    candidates = [p for p, values in users.items() if values]
    same_kind = [p for p in candidates if (p.separator is None) == (prop.separator is None)]
    for pool in (same_kind, candidates):
        if pool:
            return pool[0]
    return None


def _merge_description(
    editor: _Editor, result: XmpResult, settings: XmpSettings, provenance: str
) -> str | None:
    """Write our description unless the user has one; return what we wrote (or still own)."""
    ours_before = editor.text(provenance)
    current = editor.text(DESCRIPTION)
    tiff = editor.text(TIFF_DESCRIPTION)
    ours = result.description
    is_ours = bool(current) and current == ours_before
    if current and not is_ours:
        return None  # the user's words: never replaced
    if tiff and tiff != ours_before:
        return ours_before if is_ours else None  # Immich shows the user's tiff description
    if is_ours and not settings.overwrite_description:
        return ours_before
    if not ours:
        return ours_before if is_ours else None
    editor.set_alt(DESCRIPTION, ours)
    if result.alt_text:
        alt = editor.text(ALT_TEXT)
        if not alt or alt == ours_before:
            editor.set_alt(ALT_TEXT, ours)
    return ours


# -- on disk -------------------------------------------------------------------------------

# Files that may share a stem with a photo and own a `replace`-named sidecar (IMG_1.xmp).
_PHOTO_EXTENSIONS = (
    "jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff", "heic", "heif", "avif", "jxl",
    "dng", "cr2", "cr3", "crw", "nef", "nrw", "arw", "srf", "sr2", "raf", "orf", "rw2", "pef",
    "srw", "x3f", "3fr", "iiq", "erf", "kdc", "mos", "mrw", "raw", "rwl",
)  # fmt: skip


def _existing(path: Path) -> Path | None:
    """The sidecar at ``path``, or its upper-case-suffix twin (IMG_1.XMP from Windows)."""
    for candidate in (path, path.with_suffix(path.suffix.upper())):
        if candidate.is_file():
            return candidate
    return None


def _stem_shared(image: Path) -> bool:
    """Whether another photo in the folder has this one's stem (IMG_1.jpg and IMG_1.cr2)."""
    for extension in _PHOTO_EXTENSIONS:
        for suffix in (f".{extension}", f".{extension.upper()}"):
            other = image.with_suffix(suffix)
            if other.name != image.name and other.exists():
                return True
    return False


def _owner(sidecar: Path) -> str | None:
    """The photo this daemon last wrote into ``sidecar`` for, if any."""
    try:
        document = parse(sidecar.read_bytes()[: MAX_BYTES + 1], str(sidecar))
    except (OSError, SidecarError):
        return None
    return _Editor(document).text(f"{{{VSYNC}}}File")


def choose_path(image: Path, naming: str) -> tuple[Path, str | None]:
    """Given a photo, return the sidecar to merge into, and a note when the choice fell back.

    An existing ``IMG_1.jpg.xmp`` or ``IMG_1.xmp`` is used; with both, the one ``naming``
    names. A ``replace``-named sidecar is only used when it is this photo's: never when its
    provenance names another photo, or, without provenance, when another photo shares the stem.
    """
    appended = image.with_name(image.name + ".xmp")
    replaced = image.with_suffix(".xmp")
    found_appended, found_replaced = _existing(appended), _existing(replaced)

    def replaced_is_ours(path: Path) -> bool:
        owner = _owner(path)
        return owner == image.name if owner is not None else not _stem_shared(image)

    if found_replaced is not None and (naming == "replace" or found_appended is None):
        if replaced_is_ours(found_replaced):
            return found_replaced, None
        note = f"{found_replaced.name} belongs to another photo with the same stem"
        return found_appended or appended, note
    if found_appended is not None:
        return found_appended, None
    if naming == "replace":
        if _stem_shared(image):
            note = f"another photo shares the stem of {image.name}; using {appended.name}"
            return appended, note
        return replaced, None
    return appended, None


def plan(image: Path, result: XmpResult, settings: XmpSettings, naming: str = "append") -> Planned:
    """Given a photo and a result, read its sidecar (if any) and decide the merged bytes."""
    path, note = choose_path(image, naming)
    snapshot = Snapshot.read(path, limit=MAX_BYTES)
    content = merge(snapshot.content, result, settings, name=str(path))
    return Planned(path, content, snapshot, note)


def write(
    image: Path, result: XmpResult, settings: XmpSettings, naming: str = "append"
) -> tuple[Path, str | None]:
    """Merge ``result`` into the photo's sidecar on disk, atomically; merge again if a photo
    manager rewrote the sidecar meanwhile. Returns the sidecar and any naming note."""
    (written,) = write_with_retry(lambda: [plan(image, result, settings, naming)])
    return written.path, written.note
