"""Where keywords go in XMP, and how the user's lists and ours are merged (and taken apart).

Each program reads keywords from its own property and most take only the first non-empty one
in their own order (Immich: digiKam:TagsList, then lr:hierarchicalSubject; darktable:
lr:hierarchicalSubject, then dc:subject; digiKam: TagsList, LastKeywordXMP,
hierarchicalSubject, CatalogSets, dc:subject). So every keyword property gets the complete
list, the user's keywords and ours, in its own format, and one we create is seeded with the
user's keywords: creating lr:hierarchicalSubject with only our tags would hide the user's own
from darktable. Our keywords are paths (``sidecars.keywording``): the leaf goes in the flat
lists, the path in the hierarchical ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .editor import Editor
from .packet import NAMESPACES

Keyword = tuple[str, ...]


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

    @property
    def qname(self) -> str:
        return f"{self.prefix}:{self.name}"

    def value(self, keyword: Keyword) -> str:
        return keyword[-1] if self.separator is None else self.separator.join(keyword)

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
EVERY = (*ALWAYS, *WHEN_PRESENT)


def merge_keywords(
    editor: Editor, keywords: Sequence[Keyword], previous: Sequence[Keyword]
) -> tuple[list[Keyword], list[str]]:
    """Given a sidecar being edited, our keywords now, and the ones we added last time, make
    every keyword property hold the user's keywords and ours, in its own form. Returns ours
    that the user does not already have (what we add, and record), and the properties this
    merge created (``qname``s: taken away again by `untag`)."""
    present = [p for p in EVERY if editor.find(p.tag) is not None]
    users = _users(editor, present, previous)
    user_flat = _casefolded(prop.leaf(v) for prop, values in users.items() for v in values)
    added = [k for k in keywords if k[-1].casefold() not in user_flat]
    created = []
    for prop in (*ALWAYS, *(p for p in WHEN_PRESENT if p in present)):
        base = users.get(prop)
        if base is None:  # a property we create starts with the user's keywords
            source = _seed_source(prop, users)
            seed = [prop.convert(v, source) for v in users[source]] if source else []
            base = list(dict.fromkeys(seed))
        wanted = list(base)  # the user's list as it is, duplicates and all
        seen = _casefolded(wanted)
        for keyword in added:
            value = prop.value(keyword)
            if value.casefold() not in seen:
                wanted.append(value)
                seen.add(value.casefold())
        if wanted or prop in present:
            editor.set_list(prop.tag, prop.container, wanted)
            if prop not in present:
                created.append(prop.qname)
    return added, created


def remove_keywords(editor: Editor, ours: Sequence[Keyword], created: Iterable[str]) -> None:
    """Given a sidecar being edited, the keywords we added and the properties we created,
    take ours out of every list, keeping the user's in their order; a property we created
    goes when what is left of it is only the user's keywords we seeded it with."""
    present = [p for p in EVERY if editor.find(p.tag) is not None]
    users = _users(editor, present, ours)
    made = set(created)
    kept = [p for p in present if p.qname not in made]
    theirs = _casefolded(p.leaf(v) for p in kept for v in users[p])
    for prop in present:
        left = users[prop]
        if prop.qname in made and all(prop.leaf(v).casefold() in theirs for v in left):
            editor.set_simple(prop.tag, None)  # it was not there before us
        else:
            editor.set_list(prop.tag, prop.container, left)


def _users(
    editor: Editor, present: Sequence[KeywordProperty], ours: Sequence[Keyword]
) -> dict[KeywordProperty, list[str]]:
    """Each present property's values that are not ours. A flat keyword that is also the
    leaf of one of the user's own paths is the user's, whoever wrote it first: we tagged
    ``dog``, the user filed the photo under ``Pets|dog``, and their ``dog`` in dc:subject
    stays when ours goes."""
    found = {prop: [v for v in _values(editor, prop) if v] for prop in present}
    users = {
        prop: [v for v in values if v not in {prop.value(k) for k in ours}]
        for prop, values in found.items()
    }
    implied = _casefolded(
        prop.leaf(v) for prop, values in users.items() if prop.separator for v in values
    )
    for prop in present:
        if prop.separator is None:
            users[prop] = [v for v in found[prop] if v in users[prop] or v.casefold() in implied]
    return users


def _values(editor: Editor, prop: KeywordProperty) -> list[str]:
    found = editor.find(prop.tag)
    assert found is not None
    return list(found.values())


def _casefolded(values: Iterable[str]) -> set[str]:
    return {value.casefold() for value in values}


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
