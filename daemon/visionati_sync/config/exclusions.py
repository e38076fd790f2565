"""``keywords.exclude_file``: words never to write, one a line (``#`` starts a comment),
beside the config's own ``keywords.exclude``. The review page's "never this word again"
appends to it, so the config the user wrote is never rewritten; the daemon reads it again
whenever it changed."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def read_exclusions(path: Path | None) -> tuple[str, ...]:
    """Given the file (None: none), its words; a file not made yet holds none."""
    if path is None:
        return ()
    try:
        return _words(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ()


def _words(text: str) -> tuple[str, ...]:
    words = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return tuple(word for word in words if word)


def stamp(path: Path | None) -> tuple[int, int] | None:
    """What tells a changed file from the one read before: its mtime and size."""
    if path is None:
        return None
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return (info.st_mtime_ns, info.st_size)


def add_exclusion(path: Path, word: str) -> bool:
    """Given the file and a word, add the word unless it is there (case-insensitively);
    returns whether it was added. Appends under a lock: two pages at once lose nothing."""
    word = " ".join(word.split())
    if not word or "#" in word:
        raise ValueError(f"{word!r} cannot be excluded (empty, or holds '#')")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        text = handle.read()  # read under the lock, through the handle that appends
        if word.casefold() in (w.casefold() for w in _words(text)):
            return False
        handle.write(("\n" if text and not text.endswith("\n") else "") + word + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return True
