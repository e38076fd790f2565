"""Taking back what ``merge`` added to a sidecar (`untag`): a pure function from the
sidecar's bytes to the bytes it held before this daemon first touched it, as far as any
program reads them, or to nothing when the sidecar was ours alone.

What goes, by the provenance record: our keywords from every list (the user's stay, in their
order), a property we created once it holds only what we seeded it with, our description
while it is still ours (the user's edit is theirs now), and the record itself. The namespace
declarations we added stay: they declare, and hold nothing.
"""

from __future__ import annotations

from . import provenance
from .editor import Editor
from .keywords import remove_keywords
from .merge import DESCRIPTIONS
from .packet import RDF, parse, rdf_element, serialize


def unmerge(existing: bytes, name: str = "sidecar") -> bytes | None:
    """Given a sidecar's bytes, return them without what we wrote; None when the sidecar
    was created by us and nothing else is left in it (it is to be deleted). A sidecar we
    never wrote comes back as it is."""
    document = parse(existing, name)
    editor = Editor(document)
    before = provenance.read(editor)
    if not before.any:
        return existing
    remove_keywords(editor, before.keywords, before.created)
    if before.description is not None:
        for qname, tag in DESCRIPTIONS.items():
            if editor.text(tag) != before.description:
                continue  # the user's words (or changed by the user): theirs
            if qname in before.created or not before.created:  # (an older record: ours)
                editor.set_simple(tag, None)
            else:  # it stood there empty before us
                editor.set_alt(tag, "")
    provenance.erase(editor)
    if provenance.SIDECAR in before.created and _empty(editor):
        return None
    return serialize(document) if editor.changed else existing


def _empty(editor: Editor) -> bool:
    """Whether no rdf:Description holds a property any more."""
    packet = rdf_element(editor.document.root)
    for description in packet.iterchildren(f"{{{RDF}}}Description"):
        if len(description) or any(key != f"{{{RDF}}}about" for key in description.attrib):
            return False
    return True
