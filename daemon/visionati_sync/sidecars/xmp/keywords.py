"""Where keywords go in XMP, and how the user's lists and ours are merged.

Each program reads keywords from its own property and most take only the first non-empty one
in their own order (Immich: digiKam:TagsList, then lr:hierarchicalSubject; darktable:
lr:hierarchicalSubject, then dc:subject; digiKam: TagsList, LastKeywordXMP,
hierarchicalSubject, CatalogSets, dc:subject). So every keyword property gets the complete
list, the user's keywords and ours, in its own format, and one we create is seeded with the
user's keywords: creating lr:hierarchicalSubject with only our tags would hide the user's own
from darktable.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .editor import Editor
from .packet import NAMESPACES, xml_text


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


def merge_keywords(
    editor: Editor,
    keywords: Sequence[str],
    previous: Sequence[str],
    previous_root: str,
    root: str,
) -> list[str]:
    """Given a sidecar being edited, our keywords now, and the ones we added last time (under
    ``previous_root``), make every keyword property hold the user's keywords and ours, in its
    own form. Returns ours that the user does not already have: what we add, and record."""
    present = [p for p in (*ALWAYS, *WHEN_PRESENT) if editor.find(p.tag) is not None]
    users: dict[KeywordProperty, list[str]] = {}
    for prop in present:
        ours_before = {prop.value(k, previous_root) for k in previous}
        found = editor.find(prop.tag)
        assert found is not None
        users[prop] = [v for v in found.values() if v and v not in ours_before]
    user_flat = _casefolded(prop.leaf(v) for prop, values in users.items() for v in values)
    added = [k for k in keywords if k.casefold() not in user_flat]

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
            editor.set_list(prop.tag, prop.container, wanted)
    return added


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
