"""Walking a watched folder for candidate files: at start, on `scan`, and periodically,
because no single filesystem event can be trusted (inotify drops events on overflow)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from .jobs import FileSeen
from .selection import Selector


def walk(
    folder: Path,
    recursive: bool,
    selector: Selector,
    on_error: Callable[[str, OSError], None] | None = None,
    start: str = "",
    on_temp: Callable[[os.DirEntry[str]], None] | None = None,
) -> Iterator[FileSeen]:
    """Given a folder, yield every candidate file below it with its size and mtime.

    Symbolic links are not followed: they would make loops and tag one photo twice.
    """
    start = start.strip("/")
    if start and os.path.isfile(os.path.join(folder, start)):  # `scan` of a single file
        if selector.accepts(start):
            info = os.stat(os.path.join(folder, start), follow_symlinks=False)
            yield FileSeen(start, info.st_size, info.st_mtime_ns)
        return
    stack = [start]
    while stack:
        rel = stack.pop()
        path = os.path.join(folder, rel) if rel else str(folder)
        try:
            entries = os.scandir(path)
        except OSError as exc:
            if on_error is not None:
                on_error(path, exc)
            continue
        with entries:
            for entry in entries:
                relpath = f"{rel}/{entry.name}" if rel else entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if recursive and selector.accepts_folder(relpath):
                            stack.append(relpath)
                    elif on_temp is not None and entry.name.endswith(".vs-tmp"):
                        on_temp(entry)
                    elif entry.is_file(follow_symlinks=False) and selector.accepts(relpath):
                        info = entry.stat(follow_symlinks=False)
                        yield FileSeen(relpath, info.st_size, info.st_mtime_ns)
                except OSError as exc:  # vanished or unreadable while we looked
                    if on_error is not None:
                        on_error(entry.path, exc)


T = TypeVar("T")


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Given a stream, yield lists of up to ``size`` items: work in bounded memory."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
