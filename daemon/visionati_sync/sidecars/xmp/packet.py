"""An XMP packet read safely and written back: no DTDs or entities, no network, a size
limit, and every byte around the root element (``<?xml?>``, ``<?xpacket?>``, padding) kept
as it was."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree

from ..atomic import SidecarError

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
class Document:
    prefix: bytes  # everything before the root element, kept byte for byte
    root: Any
    suffix: bytes  # everything after it
    whole: bool = False  # the prolog could not be kept as bytes: serialise the whole tree


def parse(data: bytes, name: str = "sidecar") -> Document:
    """Given a sidecar's bytes, parse them safely, or raise XmpError saying why not."""
    if len(data) > MAX_BYTES:
        raise XmpError(f"{name}: larger than {MAX_BYTES // (1024 * 1024)} MiB; left unchanged")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise XmpError(f"{name}: has a DTD or entity declarations; refused, left unchanged")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise XmpError(f"{name}: cannot parse XMP ({exc.msg}); left unchanged") from None
    if root.getroottree().docinfo.internalDTD is not None:
        raise XmpError(f"{name}: has a DTD; refused, left unchanged")
    if rdf_element(root) is None:
        raise XmpError(f"{name}: no rdf:RDF element: not an XMP packet; left unchanged")
    try:
        start, end = _root_span(data, root)
    except ValueError:  # re-serialise the whole document instead
        return Document(b"", root, b"", whole=True)
    return Document(data[:start], root, data[end:])


def _root_span(data: bytes, root: Any) -> tuple[int, int]:
    """Where the root element starts and ends in the original bytes, so that the prolog and
    trailer (``<?xml?>``, ``<?xpacket?>``, padding) are kept byte for byte. Raises
    ValueError when the bytes cannot be searched (e.g. UTF-16)."""
    name = local(root)
    qname = f"{root.prefix}:{name}" if root.prefix else name
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


def local(element: Any) -> str:
    return str(etree.QName(element).localname)


def rdf_element(root: Any) -> Any:
    if root.tag == f"{{{RDF}}}RDF":
        return root
    return root.find(f".//{{{RDF}}}RDF")


def serialize(document: Document) -> bytes:
    if document.whole:
        return bytes(etree.tostring(document.root.getroottree(), encoding="UTF-8"))
    body = etree.tostring(document.root, encoding="UTF-8", xml_declaration=False)
    return bytes(document.prefix + body + document.suffix)
