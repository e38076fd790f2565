"""Turning what is on disk into jobs: scans (at start, on `scan`, periodically), files the
watcher saw settle, and the moves and deletes it reports. Everything that enters the queue
comes through here."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from ..config import FolderSettings
from ..jobtable import FileQueue
from ..log import bound_contextvars, get_logger
from ..records import FileSeen, Scope, State
from ..rules.selection import Selector
from ..sidecars.atomic import is_stale_temp
from .scanner import walk_folder
from .watcher import Settler

log = get_logger("intake")


class Intake:
    """Given the file queue, the selection rules and the settler, queue what is complete;
    ``wake`` tells a stage (``submitter``, ``writer``) that there is work for it."""

    def __init__(
        self,
        queue: FileQueue,
        selector: Selector,
        settler: Settler,
        *,
        retag_on_change: bool,
        wake: Callable[[str], None],
    ) -> None:
        self.queue = queue
        self.selector = selector
        self.settler = settler
        self.retag_on_change = retag_on_change
        self.wake = wake

    def scan(self, folders: Sequence[FolderSettings], scopes: Sequence[Scope] = ()) -> int:
        """Walk folders a directory at a time; queue new and changed files that are quiet,
        hand recent ones to the settler. Memory stays bounded whatever the size of the
        library. Returns how many files were queued."""
        recent_ns = time.time_ns() - int(self.settler.settle_seconds * 1e9)
        queued = 0
        for folder in folders:
            if not folder.path.is_dir():
                continue  # the watcher says so, and watches it when it comes
            root = str(folder.path)
            totals: Counter[str] = Counter()
            for directory, files in walk_folder(
                folder, scopes, self.selector, _walk_error, _remove_stale
            ):
                totals["seen"] += len(files)
                quiet = []
                for seen in self.queue.changed(root, directory, files):
                    if seen.mtime_ns > recent_ns:
                        self.settler.touch(root, seen.relpath)
                        totals["settling"] += 1
                    else:
                        quiet.append(seen)
                totals.update(self._enqueue(root, quiet))
            queued += totals["new"] + totals["requeued"]
            log.info(
                "scanned folder", folder=root, files=totals["seen"], new=totals["new"],
                changed=totals["requeued"] + totals["updated"], settling=totals["settling"],
            )  # fmt: skip
        return queued

    def ask_again(
        self,
        folders: Sequence[FolderSettings],
        scopes: Sequence[Scope],
        again: Callable[[FolderSettings, list[str]], int],
    ) -> int:
        """Given folders, and how to queue again the files of one of their directories
        (`scan --refresh`, `--retag`), walk them as a scan and its estimate do, so that
        exactly the files the estimate priced are queued: never a job the walk does not
        find (a file excluded since, or gone). Returns how many were queued."""
        queued = 0
        for folder in folders:
            for _, files in walk_folder(folder, scopes, self.selector, _walk_error):
                queued += again(folder, [seen.relpath for seen in files])
        return queued

    def settle_step(self) -> bool:
        """Queue the files the settler says are complete."""
        with self.settler.taking() as complete:
            by_folder: dict[str, list[FileSeen]] = {}
            for folder, seen in complete:
                by_folder.setdefault(folder, []).append(seen)
                with bound_contextvars(path=os.path.join(folder, seen.relpath)):
                    log.debug("file complete", size=seen.size)
            for folder, files in by_folder.items():
                try:
                    counts = self._enqueue(folder, files)
                except Exception:  # the job table is unavailable: keep them until it is back
                    for seen in files:
                        self.settler.touch(folder, seen.relpath)
                    raise
                if counts["new"] or counts["requeued"]:
                    log.info("queued", folder=folder, files=counts["new"] + counts["requeued"])
        return False  # the settler is driven by time: always wait a tick

    def _enqueue(self, folder: str, files: list[FileSeen]) -> Counter[str]:
        counts = self.queue.enqueue(folder, files, retag_on_change=self.retag_on_change)
        if counts["new"] or counts["requeued"]:
            self.wake("submitter")
        return counts

    # -- what the watcher reports besides changes (watcher.FileEvents) ---------------------

    def moved(self, folder: str, relpath: str, new_folder: str, new_relpath: str) -> bool:
        """A file moved inside the watched folders keeps its job: no new upload."""
        moved = self.queue.move(folder, relpath, new_folder, new_relpath)
        if moved is None:
            return False
        job_id, state = moved
        with bound_contextvars(job_id=job_id, path=os.path.join(new_folder, new_relpath)):
            log.info("file moved; its job moved with it", moved_from=os.path.join(folder, relpath))
        if state == State.WRITING:
            self.wake("writer")  # sidecars beside the new name, from the stored result
        return True

    def deleted(self, folder: str, relpath: str) -> None:
        forgotten = self.queue.forget(folder, relpath)
        if forgotten is not None:
            job_id, state = forgotten
            with bound_contextvars(job_id=job_id, path=os.path.join(folder, relpath)):
                if state == State.PENDING:
                    log.info("file deleted before upload; dropped from the queue")
                else:
                    log.debug("file deleted; its job dropped, its result kept", state=state)


def scopes_for(
    folders: Sequence[FolderSettings], paths: Sequence[Path]
) -> tuple[list[FolderSettings], list[Scope]]:
    """Given `scan PATH…`, return the folders to walk and the scopes to wait for.

    A path inside a configured folder narrows to it; a path outside every folder is scanned
    as a folder of its own.
    """
    if not paths:
        return list(folders), [Scope(str(f.path)) for f in folders]
    chosen: list[FolderSettings] = []
    scopes: list[Scope] = []
    for raw in paths:
        path = raw.expanduser().resolve()
        owners = [f for f in folders if path == f.path or f.path in path.parents]
        owner = max(owners, key=lambda f: len(f.path.parts), default=None)  # the innermost
        if owner is None:
            owner = FolderSettings(path=path)
        if owner not in chosen:
            chosen.append(owner)
        prefix = "" if path == owner.path else path.relative_to(owner.path).as_posix()
        scopes.append(Scope(str(owner.path), prefix))
    return chosen, scopes


def _remove_stale(entry: os.DirEntry[str]) -> None:
    """A temporary sidecar left by a daemon that was killed mid-write: remove it."""
    try:
        if is_stale_temp(entry.name, entry.stat(follow_symlinks=False).st_mtime, time.time()):
            os.unlink(entry.path)
            log.info("removed a temporary file left by an interrupted write", path=entry.path)
    except OSError:
        pass


def _walk_error(path: str, exc: OSError) -> None:
    log.warning("cannot read folder entry", path=path, error=exc.strerror)
