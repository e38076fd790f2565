"""Noticing complete new files: watchdog observers feed a per-path settle tracker.

A file is complete when its size and mtime have not changed for ``watch.settle_seconds``;
every event on a path restarts only that path's clock, so a steady stream of writes to one
file never holds back the others. A close-after-write event is just another event here: a
writer that appends in chunks closes the file after each one.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from .config import FolderSettings
from .jobs import FileSeen
from .log import get_logger
from .payload import stat_signature
from .selection import Selector

log = get_logger("watcher")

Key = tuple[str, str]  # (folder, relpath)
StatFn = Callable[[str], tuple[int, int] | None]


@dataclass
class _Tracked:
    signature: tuple[int, int] | None
    stable_since: float


class Settler:
    """Given events on paths, say which files have stopped changing. Pure but for the clock
    and the stat function, both injectable for tests."""

    def __init__(
        self,
        settle_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        stat: StatFn = stat_signature,
    ) -> None:
        self.settle_seconds = settle_seconds
        self._clock = clock
        self._stat = stat
        self._tracked: dict[Key, _Tracked] = {}
        self._lock = threading.Lock()

    def touch(self, folder: str, relpath: str) -> None:
        """Something happened to this path: (re)start its settle clock."""
        with self._lock:
            self._tracked[(folder, relpath)] = _Tracked(None, self._clock())

    def __len__(self) -> int:
        with self._lock:
            return len(self._tracked)

    def ready(self) -> tuple[list[tuple[str, FileSeen]], list[Key]]:
        """Return (files now complete, paths that vanished) and stop tracking both."""
        now = self._clock()
        with self._lock:
            items = list(self._tracked.items())
        complete, vanished = [], []
        for key, tracked in items:
            signature = self._stat(os.path.join(*key))
            with self._lock:
                current = self._tracked.get(key)
                if current is not tracked:  # touched again meanwhile
                    continue
                if signature is None:
                    del self._tracked[key]
                    vanished.append(key)
                elif signature != tracked.signature:
                    tracked.signature, tracked.stable_since = signature, now
                    if self.settle_seconds == 0:
                        del self._tracked[key]
                        complete.append((key[0], FileSeen(key[1], *signature)))
                elif now - tracked.stable_since >= self.settle_seconds:
                    del self._tracked[key]
                    complete.append((key[0], FileSeen(key[1], *signature)))
        return complete, vanished


class _Handler(FileSystemEventHandler):
    def __init__(self, root: str, selector: Selector, settler: Settler) -> None:
        self.root = root
        self.selector = selector
        self.settler = settler

    def _consider(self, path: str | bytes) -> None:
        path = os.fsdecode(path)
        relpath = os.path.relpath(path, self.root)
        if relpath.startswith(".." + os.sep) or relpath == "..":
            return
        relpath = relpath.replace(os.sep, "/")
        if self.selector.accepts(relpath):
            self.settler.touch(self.root, relpath)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in ("deleted", "opened", "closed_no_write"):
            return
        if event.event_type == "moved":
            self._consider(event.dest_path)  # a rename into place is a new candidate
            return
        self._consider(event.src_path)


class Watcher:
    """Keeps one observer per configured folder running; a folder that does not exist yet,
    or whose observer died, is retried by ``ensure()``."""

    def __init__(
        self,
        folders: list[FolderSettings],
        selector: Selector,
        settler: Settler,
        *,
        polling: bool = False,
        source: str = "config",
        on_started: Callable[[FolderSettings], object] | None = None,
    ) -> None:
        self.folders = folders
        self.selector = selector
        self.settler = settler
        self.polling = polling
        self.source = source
        self.on_started = on_started
        self._observers: dict[int, Any] = {}
        self._reported_missing: set[int] = set()

    def ensure(self) -> None:
        """Start observers for folders that exist and are not watched; log the others once."""
        for index, folder in enumerate(self.folders):
            observer = self._observers.get(index)
            if observer is not None and observer.is_alive() and folder.path.is_dir():
                continue
            if observer is not None:
                log.warning("folder watch lost; will re-establish", folder=str(folder.path))
                self._stop_observer(index)
            if not folder.path.is_dir():
                if index not in self._reported_missing:
                    log.error(
                        f"{self.source}: folders[{index}].path: directory does not exist",
                        folder=str(folder.path),
                        hint="watching the other folders; this one is retried until it exists",
                    )
                    self._reported_missing.add(index)
                continue
            self._start_observer(index, folder)

    def _start_observer(self, index: int, folder: FolderSettings) -> None:
        handler = _Handler(str(folder.path), self.selector, self.settler)
        kinds = [PollingObserver] if self.polling else [Observer, PollingObserver]
        for kind in kinds:
            observer = kind()
            try:
                observer.schedule(handler, str(folder.path), recursive=folder.recursive)
                observer.start()
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EMFILE) and kind is Observer:
                    log.warning(
                        "inotify limit reached; polling this folder instead",
                        folder=str(folder.path),
                        hint="raise fs.inotify.max_user_watches (or max_user_instances) "
                        "with sysctl",
                    )
                    continue
                log.error("cannot watch folder", folder=str(folder.path), error=str(exc))
                return
            self._observers[index] = observer
            if index in self._reported_missing:
                self._reported_missing.discard(index)
            log.info("watching folder", folder=str(folder.path), recursive=folder.recursive)
            if self.on_started is not None:
                self.on_started(folder)
            return

    def _stop_observer(self, index: int) -> None:
        observer = self._observers.pop(index, None)
        if observer is not None:
            observer.stop()
            observer.join(timeout=2)

    def stop(self) -> None:
        for index in list(self._observers):
            self._stop_observer(index)
