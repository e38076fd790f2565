"""Which paths are candidates for tagging: a pure decision on names, shared by the watcher
and the scanner so that a file is judged the same way however it was found."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import PurePosixPath

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp"})

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


@dataclass(frozen=True)
class Selector:
    """Given a path relative to its watched folder, say whether it may be tagged.

    Globs without a ``/`` match the file name, globs with one the whole relative path
    (``*`` crosses folders there, as in ``exclude: ["Exports/*"]``).
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def accepts(self, relpath: str) -> bool:
        path = PurePosixPath(relpath)
        if any(part.startswith(".") or part in SKIPPED_FOLDERS for part in path.parts):
            return False
        name = path.name
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            return False
        if any(fnmatchcase(name.lower(), pattern) for pattern in TEMPORARY_NAMES):
            return False
        if self.include and not any(_glob(pattern, relpath) for pattern in self.include):
            return False
        return not any(_glob(pattern, relpath) for pattern in self.exclude)

    def accepts_folder(self, relpath: str) -> bool:
        """Whether a scan should descend into this sub-folder at all."""
        return not any(
            part.startswith(".") or part in SKIPPED_FOLDERS for part in PurePosixPath(relpath).parts
        )


def _glob(pattern: str, relpath: str) -> bool:
    if "/" in pattern:
        return fnmatchcase(relpath, pattern.lstrip("/"))
    return fnmatchcase(PurePosixPath(relpath).name, pattern)
