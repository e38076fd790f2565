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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from ..config import FolderSettings
from ..files import stat_signature
from ..log import get_logger
from ..records import FileSeen
from ..rules.mounts import network_mount
from ..rules.selection import Selector

log = get_logger("watcher")

Key = tuple[str, str]  # (folder, relpath)
StatFn = Callable[[str], tuple[int, int] | None]


@dataclass
class _Tracked:
    signature: tuple[int, int] | None
    stable_since: float
    first_seen: float


class Settler:
    """Given events on paths, say which files have stopped changing. Pure but for the clock
    and the stat function, both injectable for tests."""

    def __init__(
        self,
        settle_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        stat: StatFn = stat_signature,
        max_wait: float = 300.0,
    ) -> None:
        self.settle_seconds = settle_seconds
        self.max_wait = max_wait
        self._clock = clock
        self._stat = stat
        self._tracked: dict[Key, _Tracked] = {}
        self._held = 0  # complete files handed out by taking() and not yet queued
        self._lock = threading.Lock()

    def touch(self, folder: str, relpath: str) -> None:
        """Something happened to this path: (re)start its settle clock (but not the clock of
        ``max_wait``: a file that never stops changing is still taken in the end)."""
        now = self._clock()
        with self._lock:
            before = self._tracked.get((folder, relpath))
            first_seen = before.first_seen if before is not None else now
            self._tracked[(folder, relpath)] = _Tracked(None, now, first_seen)

    def __len__(self) -> int:
        """Files still settling, and complete files handed out and not yet queued."""
        with self._lock:
            return len(self._tracked) + self._held

    def ready(self) -> list[tuple[str, FileSeen]]:
        """Return the files now complete, and stop tracking them and the paths that vanished
        (a deleted file's job is the watcher's delete event's business)."""
        return self._complete(hold=False)

    @contextmanager
    def taking(self) -> Iterator[list[tuple[str, FileSeen]]]:
        """The files now complete, as ``ready``, still counted by ``len`` until the block
        ends: whoever waits for "nothing settling and nothing queued" (a scan ending) never
        looks between a file leaving the settler and its row in the job table."""
        complete = self._complete(hold=True)
        try:
            yield complete
        finally:
            with self._lock:
                self._held -= len(complete)

    def _complete(self, hold: bool) -> list[tuple[str, FileSeen]]:
        now = self._clock()
        with self._lock:
            items = list(self._tracked.items())
        complete = []
        for key, tracked in items:
            signature = self._stat(os.path.join(*key))
            with self._lock:
                current = self._tracked.get(key)
                if current is not tracked:  # touched again meanwhile
                    continue
                if signature is None:
                    del self._tracked[key]
                    continue
                if signature != tracked.signature:  # changed since the last look
                    tracked.signature, tracked.stable_since = signature, now
                quiet = now - tracked.stable_since >= self.settle_seconds
                if quiet or now - tracked.first_seen >= self.max_wait:  # or taken as it is
                    del self._tracked[key]
                    self._held += hold
                    complete.append((key[0], FileSeen(key[1], *signature)))
        return complete


class FileEvents(Protocol):
    """What the watcher tells the rest of the daemon besides "this file changed"."""

    def moved(self, folder: str, relpath: str, new_folder: str, new_relpath: str) -> bool:
        """A candidate was moved or renamed within the watched folders; True if handled."""

    def deleted(self, folder: str, relpath: str) -> None:
        """A candidate was deleted (or moved out of the watched folders)."""


class _Handler(FileSystemEventHandler):
    def __init__(
        self, root: str, selector: Selector, settler: Settler, events: FileEvents | None,
        locate: Callable[[str], tuple[str, str] | None], inside: frozenset[str] = frozenset(),
    ) -> None:  # fmt: skip
        self.root = root
        self.inside = inside
        self.selector = selector
        self.settler = settler
        self.events = events
        self.locate = locate

    def _relative(self, path: str | bytes) -> str | None:
        relpath = os.path.relpath(os.fsdecode(path), self.root)
        if relpath.startswith(".." + os.sep) or relpath == "..":
            return None
        relpath = relpath.replace(os.sep, "/")
        if any(relpath.startswith(f"{inner}/") for inner in self.inside):
            return None  # another configured folder's file: its own watch reports it
        return relpath if self.selector.accepts(relpath) else None

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in ("opened", "closed_no_write"):
            return
        source = self._relative(event.src_path)
        if event.event_type == "deleted":
            if source is not None and self.events is not None:
                self.events.deleted(self.root, source)
            return
        if event.event_type != "moved":
            if source is not None:
                self.settler.touch(self.root, source)
            return
        target = self.locate(os.fsdecode(event.dest_path))
        if source is not None and target is None and self.events is not None:
            self.events.deleted(self.root, source)  # moved out of every watched folder
        if target is None:
            return
        if (
            source is not None
            and self.events is not None
            and self.events.moved(self.root, source, *target)
        ):
            return  # its job moved with it: no new upload
        self.settler.touch(*target)  # a rename into place (rsync, browsers) is a new file


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
        mode: str = "auto",
        source: str = "config",
        on_started: Callable[[FolderSettings], object] | None = None,
        events: FileEvents | None = None,
    ) -> None:
        self.folders = folders
        self.selector = selector
        self.settler = settler
        self.polling = polling or mode == "poll"
        self.mode = mode
        self.network: set[int] = set()  # folders on a network share: scanned on a schedule
        self.source = source
        self.on_started = on_started
        self.events = events
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
                    others = any(f.path.is_dir() for f in self.folders if f is not folder)
                    hint = ("watching the other folders; " if others else
                            "no configured folder exists, so nothing is watched yet; ")  # fmt: skip
                    log.error(
                        f"{self.source}: {folder.label}.path: directory does not exist",
                        folder=str(folder.path),
                        hint=hint + "this one is looked for again until it exists",
                    )
                    self._reported_missing.add(index)
                continue
            self._start_observer(index, folder)

    def _start_observer(self, index: int, folder: FolderSettings) -> None:
        share = network_mount(str(folder.path))
        if share is not None and index not in self.network:
            log.warning(
                "folder on a network filesystem: changes made by other machines are seen by "
                "scheduled scans", folder=str(folder.path), filesystem=share.fstype,
                source=share.source, hint="watch.network_scan_interval sets how often",
            )  # fmt: skip
        if share is not None:
            self.network.add(index)
        if self.mode == "scan":  # scheduled scans only: nothing to watch
            self._observers[index] = _Scanned()
            log.info("scanning folder on a schedule (watch.mode: scan)", folder=str(folder.path))
            if self.on_started is not None:
                self.on_started(folder)
            return
        handler = _Handler(
            str(folder.path), self.selector, self.settler, self.events, self.locate, folder.inside
        )
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

    def scheduled(self) -> list[FolderSettings]:
        """The folders whose changes only a scan sees: on a network share, or all with
        ``watch.mode: scan``."""
        if self.mode == "scan":
            return [f for i, f in enumerate(self.folders) if i in self._observers]
        return [self.folders[i] for i in sorted(self.network) if i in self._observers]

    def locate(self, path: str) -> tuple[str, str] | None:
        """Given an absolute path, return (watched folder, relpath) for a candidate in one: the
        innermost folder that holds it, which alone may claim it."""
        for folder in sorted(self.folders, key=lambda f: len(f.path.parts), reverse=True):
            root = str(folder.path)
            relpath = os.path.relpath(path, root)
            if relpath == ".." or relpath.startswith(".." + os.sep):
                continue
            if not folder.recursive and os.sep in relpath:
                return None  # below a folder that is not recursive: nobody's
            relpath = relpath.replace(os.sep, "/")
            return (root, relpath) if self.selector.accepts(relpath) else None
        return None

    def _stop_observer(self, index: int) -> None:
        observer = self._observers.pop(index, None)
        if observer is not None:
            observer.stop()
            observer.join(timeout=2)

    def stop(self) -> None:
        for index in list(self._observers):
            self._stop_observer(index)


class _Scanned:
    """Stands for an observer where a folder is only scanned (``watch.mode: scan``)."""

    def is_alive(self) -> bool:
        return True

    def stop(self) -> None:
        pass

    def join(self, timeout: float | None = None) -> None:
        pass
