"""Which keywords a result becomes, by the user's rules: their score floor, the words they
never want, their synonyms, their vocabulary and its tree, their casing, how many. A pure
function of (the API's asset, the rules), so that every rule is tested with no sidecar.

A keyword is a path: ``("Animals", "Mammals", "Dog")`` from the user's vocabulary, or
``("Visionati", "dog")`` for a tag the vocabulary does not know, kept under the tree's root.
The XMP writer puts the leaf in ``dc:subject`` and the path in the hierarchical lists.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..records import xml_text
from .vocabulary import Vocabulary

Keyword = tuple[str, ...]
Case = Literal["as-given", "lower", "capitalised"]
Unmatched = Literal["keep", "drop", "under-root"]


@dataclass(frozen=True)
class KeywordRules:
    exclude: tuple[str, ...] = ()  # words or globs, matched case-insensitively
    rename: Mapping[str, str] = field(default_factory=dict)  # casefolded tag → the user's word
    max: int | None = None
    min_score: float | None = None  # every keyword's floor
    min_scores: Mapping[str, float] = field(default_factory=dict)  # casefolded tag → its own
    case: Case = "as-given"
    vocabulary: Vocabulary | None = None
    # a tag the vocabulary does not name (without one: every tag): written at the top of the
    # tree (keep), not at all (drop), or under ``root`` (under-root)
    unmatched: Unmatched = "under-root"
    root: str = "Visionati"
    marker: str | None = None  # one more keyword on every photo tagged: a filter for it


def scored_tags(asset: dict[str, Any]) -> list[tuple[str, float]]:
    """Given an asset, return its tag names with their best score, best first, each name
    once (case-insensitively)."""
    tags = asset.get("tags")
    if not isinstance(tags, dict):
        return []
    best: dict[str, tuple[float, str]] = {}
    for name, detections in tags.items():
        scores = [
            float(d["score"])
            for d in (detections if isinstance(detections, list) else [])
            if isinstance(d, dict) and isinstance(d.get("score"), int | float)
        ]
        score = max(scores, default=0.0)
        label = xml_text(str(name)).strip()
        if not label:
            continue
        key = label.casefold()
        if key not in best or score > best[key][0]:
            best[key] = (score, label)
    ordered = sorted(best.values(), key=lambda item: (-item[0], item[1].casefold()))
    return [(label, score) for score, label in ordered]


@dataclass(frozen=True)
class Proposal:
    """One keyword a result proposes, as a reviewer sees it: its path, the API's best score
    for it (None: the marker keyword), whether the user's vocabulary knows it."""

    path: Keyword
    score: float | None
    known: bool  # in the user's vocabulary (else new, under the root or kept as given)
    label: str | None = None  # the API's own word for it (None: the marker keyword)

    @property
    def key(self) -> str:
        """The keyword's identity, case-insensitively: its whole path."""
        return "|".join(self.path).casefold()


def proposals(asset: dict[str, Any], rules: KeywordRules) -> list[Proposal]:
    """Given an asset and the rules, the keywords to write, best first, with their scores."""
    chosen: list[Proposal] = []
    seen: set[str] = set()
    for label, score in scored_tags(asset):
        if rules.max is not None and len(chosen) >= rules.max:
            break
        floor = rules.min_scores.get(label.casefold(), rules.min_score)
        if floor is not None and score < floor:
            continue
        word = rules.rename.get(label.casefold(), label).strip()
        path = rules.vocabulary.match(word) if rules.vocabulary is not None else None
        known = path is not None
        if path is None:
            if rules.unmatched == "drop":
                continue
            word = _cased(word, rules.case)
            path = (rules.root, word) if rules.unmatched == "under-root" and rules.root else (word,)
        if not word or any(_excluded(w, rules.exclude) for w in (label, word, path[-1])):
            continue
        proposal = Proposal(path, score, known, label)
        if proposal.key not in seen:
            seen.add(proposal.key)
            chosen.append(proposal)
    if rules.marker and rules.marker.casefold() not in seen:
        chosen.append(Proposal((rules.marker,), None, True))
    return chosen


def choose(asset: dict[str, Any], rules: KeywordRules) -> tuple[Keyword, ...]:
    """Given an asset and the rules, return the keywords to write, best first."""
    return tuple(proposal.path for proposal in proposals(asset, rules))


def _excluded(word: str, patterns: tuple[str, ...]) -> bool:
    folded = word.casefold()
    return any(fnmatch.fnmatchcase(folded, pattern.casefold()) for pattern in patterns)


def _cased(word: str, case: Case) -> str:
    if case == "lower":
        return word.lower()
    if case == "capitalised":
        return word[:1].upper() + word[1:]
    return word
