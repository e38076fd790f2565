"""A photographer's controlled vocabulary, read from the files their programs export, so that
the API's tags are written in the user's own words and places in their keyword tree.

Three forms are read, told apart by their lines:

- Lightroom's keyword-list export (darktable writes it too): one keyword per line, indented
  by tabs under its parent; ``{Canine}`` lines under a keyword are its synonyms; a keyword in
  ``[brackets]`` is a category that is not itself exported, so nothing is matched to it;
- a list of paths, one per line: ``Animals|Mammals|Dog`` (Lightroom, darktable) or
  ``Animals/Mammals/Dog`` (digiKam's tag paths);
- a plain list of words, one per line (a flat vocabulary).

A tag matches a keyword when it equals the keyword or one of its synonyms, case-insensitively;
it is then written as the keyword's full path, in the user's spelling. A word found in two
places of the tree takes the first (the file's order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MAX_BYTES = 16 * 1024 * 1024


class VocabularyError(Exception):
    """A vocabulary file that cannot be read, worded for the user: file, line, what."""


@dataclass(frozen=True)
class Vocabulary:
    """Keywords by every word that names them (their own, their synonyms), casefolded."""

    paths: dict[str, tuple[str, ...]] = field(default_factory=dict)
    keywords: int = 0  # how many keywords the file holds (categories not counted)

    def match(self, word: str) -> tuple[str, ...] | None:
        """Given a tag, the full path of the keyword it names, or None."""
        return self.paths.get(word.strip().casefold())


def load(path: Path) -> Vocabulary:
    """Given a vocabulary file, read it (UTF-8, a BOM allowed, any line endings)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise VocabularyError(f"{path}: cannot read the vocabulary: {exc.strerror}") from exc
    if len(data) > MAX_BYTES:
        raise VocabularyError(f"{path}: over {MAX_BYTES // 1024 // 1024} MB; not a vocabulary")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise VocabularyError(
            f"{path}: not UTF-8 text (byte {exc.start}); export the keyword list as UTF-8"
        ) from exc
    return parse(text, str(path))


def parse(text: str, name: str = "vocabulary") -> Vocabulary:
    """Given a vocabulary file's text, read its keywords in whichever form it is written."""
    lines = [line.rstrip("\r\n ") for line in text.splitlines()]
    lines = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if any(line.startswith("\t") or line[:1] in "{[" for line in lines):
        return _indented(lines, name)
    separator = "|" if any("|" in line for line in lines) else "/"
    vocabulary = _Builder()
    for number, line in enumerate(lines, 1):
        parts = tuple(part.strip() for part in line.split(separator))
        if not all(parts):
            raise VocabularyError(f"{name}: line {number}: an empty level in {line.strip()!r}")
        vocabulary.add(parts)
    return vocabulary.build()


def _indented(lines: list[str], name: str) -> Vocabulary:
    """Lightroom's form: a tab per level; synonyms in braces; categories in brackets."""
    vocabulary = _Builder()
    parents: list[tuple[str, bool]] = []  # the path to the current line: (word, category)
    for number, line in enumerate(lines, 1):
        depth = len(line) - len(line.lstrip("\t"))
        word = line.strip()
        if word.startswith("{") and word.endswith("}"):
            if depth != len(parents) or not parents:
                raise VocabularyError(f"{name}: line {number}: a synonym {word} with no keyword")
            if not parents[-1][1]:  # a category's synonyms name nothing to match
                vocabulary.synonym(tuple(part for part, _ in parents), word[1:-1].strip())
            continue
        if depth > len(parents):
            raise VocabularyError(
                f"{name}: line {number}: {word!r} is indented deeper than a child of the line "
                "before"
            )
        category = word.startswith("[") and word.endswith("]")
        word = word[1:-1].strip() if category else word
        if not word:
            raise VocabularyError(f"{name}: line {number}: an empty keyword")
        del parents[depth:]
        parents.append((word, category))
        if not category:
            vocabulary.add(tuple(part for part, _ in parents))
    return vocabulary.build()


class _Builder:
    def __init__(self) -> None:
        self.paths: dict[str, tuple[str, ...]] = {}
        self.keywords = 0

    def add(self, path: tuple[str, ...]) -> None:
        self.keywords += 1
        self.paths.setdefault(path[-1].casefold(), path)

    def synonym(self, path: tuple[str, ...], word: str) -> None:
        if word:
            self.paths.setdefault(word.casefold(), path)

    def build(self) -> Vocabulary:
        return Vocabulary(dict(self.paths), self.keywords)
