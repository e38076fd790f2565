"""Which paths are candidates for tagging: a pure decision on names, shared by the watcher
and the scanner so that a file is judged the same way however it was found."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from ..renditions import formats

# Names that download managers, editors and sync tools use while a file is still being written.
TEMPORARY_NAMES = (
    "*.part",
    "*.partial",
    "*.tmp",
    "*.temp",
    "*.crdownload",
    "*.download",
    "*.swp",
    "*.!qb",
    "*.opdownload",
    "~*",
    "*~",
)

# Folders that hold a NAS's or a desktop's thumbnails and trash, never the user's photos.
SKIPPED_FOLDERS = frozenset({"@eaDir", "#recycle", "#snapshot", "lost+found"})


_TEMPORARY = re.compile("|".join(fnmatch.translate(pattern) for pattern in TEMPORARY_NAMES))


@dataclass(frozen=True)
class Selector:
    """Given a path relative to its watched folder, say whether it may be tagged.

    Globs without a ``/`` match the file name, globs with one the whole relative path
    (``*`` crosses folders there, as in ``exclude: ["Exports/*"]``). A rescan asks this of
    every file in the library, so it is plain string work and one precompiled pattern.
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def accepts(self, relpath: str) -> bool:
        folder, _, name = relpath.rpartition("/")
        if folder and not self.accepts_folder(folder):
            return False
        return self.accepts_name(name) and self.accepts_globs(relpath)

    def accepts_name(self, name: str) -> bool:
        """The rules on a file's own name: hidden, an image's, RAW's or video's extension
        (``formats``), not temporary. (Of ``TEMPORARY_NAMES`` only ``~*`` can name a file
        with such an extension: the others end in their own; a rescan asks this of every
        file, so that is the one looked at.)"""
        return not name.startswith((".", "~")) and formats.selected(name)

    def accepts_globs(self, relpath: str) -> bool:
        if self.include and not any(_glob(pattern, relpath) for pattern in self.include):
            return False
        return not any(_glob(pattern, relpath) for pattern in self.exclude)

    @staticmethod
    def accepts_folder_name(name: str) -> bool:
        return not (name.startswith(".") or name in SKIPPED_FOLDERS)

    def accepts_folder(self, relpath: str) -> bool:
        """Whether a scan should descend into this sub-folder at all."""
        return not any(
            part.startswith(".") or part in SKIPPED_FOLDERS for part in relpath.split("/")
        )


def _glob(pattern: str, relpath: str) -> bool:
    if "/" in pattern:
        return fnmatchcase(relpath, pattern.lstrip("/"))
    return fnmatchcase(relpath.rpartition("/")[2], pattern)
