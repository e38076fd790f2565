"""Walking a watched folder for candidate files: at start, on `scan`, periodically (no single
filesystem event can be trusted: inotify drops events on overflow), and for `estimate`."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path

from ..config import FolderSettings
from ..records import FileSeen, Scope
from ..rules.selection import Selector

OnError = Callable[[str, OSError], None]
OnTemp = Callable[[os.DirEntry[str]], None]


def walk_folder(
    folder: FolderSettings,
    scopes: Sequence[Scope],
    selector: Selector,
    on_error: OnError | None = None,
    on_temp: OnTemp | None = None,
) -> Iterator[tuple[str, list[FileSeen]]]:
    """Given a configured folder and the scopes of a scan, ``walk_folders`` over the parts of
    it the scopes name (all of it when they name none of it); nothing when it is missing."""
    if not folder.path.is_dir():
        return
    for start in Scope.starts(scopes, str(folder.path)):
        yield from walk_folders(
            folder.path, folder.recursive, selector, on_error, start, on_temp, folder.inside
        )


def walk_folders(
    folder: Path,
    recursive: bool,
    selector: Selector,
    on_error: OnError | None = None,
    start: str = "",
    on_temp: OnTemp | None = None,
    skip: Collection[str] = (),
) -> Iterator[tuple[str, list[FileSeen]]]:
    """Given a folder, yield every candidate file below it with its size and mtime, one
    directory at a time: (its path relative to the folder, its candidates). Memory holds one
    directory's worth; a rescan compares one directory per query.

    Symbolic links are not followed: they would make loops and tag one photo twice. The
    sub-folders in ``skip`` (other configured folders) are not entered.
    """
    start = start.strip("/")
    if start:  # `scan PATH`: a single file, or a folder to start from
        try:
            info = os.stat(os.path.join(folder, start), follow_symlinks=False)
        except OSError:
            info = None  # gone since it was named: nothing to walk (said by the walk below)
        if info is not None and not stat.S_ISDIR(info.st_mode):
            if stat.S_ISREG(info.st_mode) and selector.accepts(start):
                yield start.rpartition("/")[0], [FileSeen(start, info.st_size, info.st_mtime_ns)]
            return
    stack = [start]
    globs = bool(selector.include or selector.exclude)
    while stack:
        rel = stack.pop()
        prefix = f"{rel}/" if rel else ""
        path = os.path.join(folder, rel) if rel else str(folder)
        try:
            entries = os.scandir(path)
        except OSError as exc:
            if on_error is not None:
                on_error(path, exc)
            continue
        files: list[FileSeen] = []
        with entries:
            for entry in entries:  # the hot loop of a rescan: cheap checks first
                name = entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        inner = prefix + name
                        if recursive and selector.accepts_folder_name(name) and inner not in skip:
                            stack.append(inner)
                        continue
                    if not selector.accepts_name(name):
                        if on_temp is not None and name.endswith(".vs-tmp"):
                            on_temp(entry)
                        continue
                    relpath = prefix + name
                    if globs and not selector.accepts_globs(relpath):
                        continue
                    if entry.is_file(follow_symlinks=False):
                        info = entry.stat(follow_symlinks=False)
                        files.append(FileSeen(relpath, info.st_size, info.st_mtime_ns))
                except OSError as exc:  # vanished or unreadable while we looked
                    if on_error is not None:
                        on_error(entry.path, exc)
        if files:
            yield rel, files
