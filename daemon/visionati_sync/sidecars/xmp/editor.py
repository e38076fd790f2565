"""Editing properties of an XMP packet where they stand: in whichever ``rdf:Description``
holds them, as an element or an attribute, keeping their list type and the packet's own
indentation. A new property goes into the first description, its namespace declared."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from .packet import NAMESPACES, RDF, XML, Document, rdf_element


@dataclass
class Found:
    """A property as it stands: an element, or an attribute of an rdf:Description."""

    description: Any
    element: Any = None
    attribute: str | None = None

    def values(self) -> list[str]:
        if self.attribute is not None:
            return [self.description.get(self.attribute)]
        container = container_of(self.element)
        if container is None:
            text = (self.element.text or "").strip()
            return [text] if text else []
        return [(li.text or "").strip() for li in container.iterchildren(f"{{{RDF}}}li")]


def container_of(element: Any) -> Any:
    for kind in ("Bag", "Seq", "Alt"):
        found = element.find(f"{{{RDF}}}{kind}")
        if found is not None:
            return found
    return None


@dataclass
class Editor:
    document: Document
    changed: bool = False
    descriptions: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        packet = rdf_element(self.document.root)
        self.descriptions = list(packet.iterchildren(f"{{{RDF}}}Description"))
        if not self.descriptions:
            description = etree.SubElement(packet, f"{{{RDF}}}Description")
            description.set(f"{{{RDF}}}about", "")
            self.descriptions.append(description)
            self.changed = True

    def find(self, tag: str) -> Found | None:
        """A property is updated where it stands, in whichever rdf:Description holds it."""
        for description in self.descriptions:
            if tag in description.attrib:
                return Found(description, attribute=tag)
            element = description.find(tag)
            if element is not None:
                return Found(description, element=element)
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

    def set_list(self, tag: str, kind: str, wanted: list[str]) -> None:
        """Make the property hold exactly ``wanted``, unchanged items as they are; one that
        is created holds them in an ``rdf:Bag`` or ``rdf:Seq``, as ``kind`` says."""
        found = self.find(tag)
        if (found is None and not wanted) or (found is not None and found.values() == wanted):
            return
        if (
            found is not None
            and found.element is not None
            and container_of(found.element) is not None
        ):
            container = container_of(found.element)
            keep = set(wanted)
            for li in list(container.iterchildren(f"{{{RDF}}}li")):
                if (li.text or "").strip() not in keep:
                    remove(li)
            present = {(li.text or "").strip() for li in container.iterchildren(f"{{{RDF}}}li")}
            for value in wanted:
                if value not in present:
                    append(container, f"{{{RDF}}}li", value)
            self.changed = True
            return
        home = found.description if found is not None else self._home(tag)
        if found is not None:  # a simple value or an attribute: becomes a proper list
            if found.attribute is not None:
                del home.attrib[found.attribute]
            else:
                remove(found.element)
        if wanted:
            element = append(home, tag)
            container = append(element, f"{{{RDF}}}{kind}")
            for value in wanted:
                append(container, f"{{{RDF}}}li", value)
        self.changed = True

    def text(self, tag: str) -> str | None:
        found = self.find(tag)
        if found is None:
            return None
        if found.attribute is not None:
            return str(found.description.get(found.attribute))
        container = container_of(found.element)
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
            container = container_of(found.element)
            items = list(container.iterchildren(f"{{{RDF}}}li")) if container is not None else []
            default = next((li for li in items if li.get(f"{{{XML}}}lang") == "x-default"), None)
            if default is not None:
                default.text = value
                self.changed = True
                return
            remove(found.element)
        elif found is not None and found.attribute is not None:
            del home.attrib[found.attribute]
        element = append(home, tag)
        alt = append(element, f"{{{RDF}}}Alt")
        li = append(alt, f"{{{RDF}}}li", value)
        li.set(f"{{{XML}}}lang", "x-default")
        self.changed = True

    def set_simple(self, tag: str, value: str | None) -> None:
        found = self.find(tag)
        if value is None:
            if found is not None:
                if found.attribute is not None:
                    del found.description.attrib[found.attribute]
                else:
                    remove(found.element)
                self.changed = True
            return
        if found is not None and found.attribute is not None:
            if found.description.get(found.attribute) != value:
                found.description.set(found.attribute, value)
                self.changed = True
            return
        if found is not None and container_of(found.element) is None:
            if (found.element.text or "") != value:
                found.element.text = value
                self.changed = True
            return
        if found is not None:
            remove(found.element)
        append(self._home(tag), tag, value)
        self.changed = True

    def set_bag(self, tag: str, values: Sequence[str]) -> None:
        self.set_list(tag, "Bag", list(values))


def blank(text: str | None) -> bool:
    return text is not None and text.strip() == ""


def indent_of(parent: Any) -> tuple[str, str]:
    """The whitespace before a new last child of ``parent`` and after it, copied from the
    children already there; a parent without children indents one space deeper than itself."""
    if len(parent):
        if not blank(parent.text):
            return "", ""  # written compactly: stay compact
        last = parent[-1]
        return parent.text, last.tail if blank(last.tail) else ""
    previous = parent.getprevious()
    grandparent = parent.getparent()
    before: str | None = None
    if previous is not None:
        before = previous.tail
    elif grandparent is not None:
        before = grandparent.text
    own = before if before is not None and blank(before) and "\n" in before else "\n"
    return own + " ", own


def append(parent: Any, tag: str, text: str | None = None) -> Any:
    child_indent, closing = indent_of(parent)
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


def remove(element: Any) -> None:
    parent = element.getparent()
    previous = element.getprevious()
    if previous is not None:
        previous.tail = element.tail
    else:
        parent.text = element.tail
    parent.remove(element)
