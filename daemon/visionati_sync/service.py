"""Wiring the parts into a running daemon (``run``) or a one-off pass (``scan``).

Stages run in their own threads, each a loop around one ``step()``: the settle ticker turns
quiet files into jobs, the submitter uploads, the poller follows requests, the writer writes
sidecars. A stage that raises something unexpected logs it and carries on.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from structlog.contextvars import bound_contextvars

from . import db
from .client import ApiClient
from .config import Config, ConfigError, FolderSettings, load_config
from .gate import Gate
from .jobs import PENDING, WRITING, FileSeen, JobStore, Scope, utcnow
from .log import get_logger, register_secret
from .poller import Poller
from .progress import Reporter
from .scanner import walk_folders
from .selection import Selector
from .sidecars.atomic import is_stale_temp
from .submitter import Submitter
from .watcher import Settler, Watcher
from .workers import owner_alive
from .writer import Writer

log = get_logger("service")

SHUTDOWN_GRACE = 8.0  # seconds; systemd's default stop timeout is 90, ours is 10


class Service:
    def __init__(self, config: Config) -> None:
        self.config = config
        settings = config.settings
        self.engine = db.make_engine(config.database_url())
        db.upgrade(self.engine)
        self.store = JobStore(self.engine)
        self.selector = Selector(tuple(settings.watch.include), tuple(settings.watch.exclude))
        self.settler = Settler(
            settings.watch.settle_seconds, max_wait=settings.watch.max_settle_seconds
        )
        self.stop = threading.Event()
        self.reload = threading.Event()
        self._api_key = config.api_key or ""
        self._wake = {name: threading.Event() for name in ("submitter", "writer")}
        self._threads: list[threading.Thread] = []
        self._gate: Gate | None = None

    # -- parts ---------------------------------------------------------------------------

    def _client(self) -> ApiClient:
        api = self.config.settings.api
        return ApiClient(
            api.base_url,
            lambda: self._api_key,
            connect_timeout=api.connect_timeout,
            read_timeout=api.timeout,
        )

    def _stages(self) -> tuple[Submitter, Poller, Writer]:
        settings = self.config.settings
        gate = Gate(
            self.store,
            auth_retry_interval=settings.api.auth_retry_interval,
            credit_check_interval=settings.api.credit_check_interval,
            backoff=settings.api.backoff(),
        )

        def wake_writer() -> None:
            self._wake["writer"].set()
            self._wake["submitter"].set()  # a request answered frees a place in flight

        submitter = Submitter(
            self.store,
            self._client,
            settings.api,
            gate,
            options_for=self.config.options_for,
            settle_seconds=settings.watch.settle_seconds,
            backoff=settings.api.backoff(),
            on_results=wake_writer,
        )
        poller = Poller(
            self.store, self._client, settings.api, settings.api.backoff(), on_results=wake_writer
        )
        return submitter, poller, Writer(self.store, settings.sidecars)

    def recover(self) -> None:
        """Put back claims of workers that died (a crash or kill -9 mid-upload)."""
        released = self.store.release_orphaned_claims(owner_alive)
        if released:
            log.warning("re-queued files claimed by a worker that is gone", files=released)

    def scan(self, folders: Sequence[FolderSettings], scopes: Sequence[Scope] = ()) -> int:
        """Walk folders in chunks; queue new and changed files that are quiet, hand recent
        ones to the settler. Memory stays bounded whatever the size of the library."""
        recent_ns = time.time_ns() - int(self.settler.settle_seconds * 1e9)
        queued = 0
        for folder in folders:
            if not folder.path.is_dir():
                continue
            root = str(folder.path)
            totals: Counter[str] = Counter()
            for start in Scope.starts(scopes, root):
                for directory, chunk in walk_folders(
                    folder.path, folder.recursive, self.selector, _walk_error, start, _remove_stale
                ):
                    totals["seen"] += len(chunk)
                    fresh = []
                    for seen in self.store.changed(root, directory, chunk):
                        if seen.mtime_ns > recent_ns:
                            self.settler.touch(root, seen.relpath)
                            totals["settling"] += 1
                        else:
                            fresh.append(seen)
                    totals.update(
                        self.store.enqueue(root, fresh, retag_on_change=self._retag_on_change)
                    )
            queued += totals["new"] + totals["requeued"]
            log.info(
                "scanned folder", folder=root, files=totals["seen"], new=totals["new"],
                changed=totals["requeued"] + totals["updated"], settling=totals["settling"],
            )  # fmt: skip
        if queued:
            self._wake["submitter"].set()
        return queued

    def _settle_step(self) -> bool:
        complete, _vanished = self.settler.ready()
        by_folder: dict[str, list[FileSeen]] = {}
        for folder, seen in complete:
            by_folder.setdefault(folder, []).append(seen)
            with bound_contextvars(path=os.path.join(folder, seen.relpath)):
                log.debug("file complete", size=seen.size)
        for folder, files in by_folder.items():
            counts = self.store.enqueue(folder, files, retag_on_change=self._retag_on_change)
            if counts["new"] or counts["requeued"]:
                log.info("queued", folder=folder, files=counts["new"] + counts["requeued"])
                self._wake["submitter"].set()
        return False  # the settler is driven by time: always wait a tick

    @property
    def _retag_on_change(self) -> bool:
        return self.config.settings.watch.retag_on_change

    # -- what the watcher reports besides changes ----------------------------------------

    def moved(self, folder: str, relpath: str, new_folder: str, new_relpath: str) -> bool:
        """A file moved inside the watched folders keeps its job: no new upload."""
        moved = self.store.move(folder, relpath, new_folder, new_relpath)
        if moved is None:
            return False
        job_id, state = moved
        with bound_contextvars(job_id=job_id, path=os.path.join(new_folder, new_relpath)):
            log.info("file moved; its job moved with it", moved_from=os.path.join(folder, relpath))
        if state == WRITING:
            self._wake["writer"].set()  # sidecars beside the new name, from the stored result
        return True

    def deleted(self, folder: str, relpath: str) -> None:
        forgotten = self.store.forget(folder, relpath)
        if forgotten is not None:
            job_id, state = forgotten
            with bound_contextvars(job_id=job_id, path=os.path.join(folder, relpath)):
                if state == PENDING:
                    log.info("file deleted before upload; dropped from the queue")
                else:
                    log.debug("file deleted; its job dropped, its result kept", state=state)

    def _reload_config(self) -> None:
        """SIGHUP: read the config again. A new key applies at once (and a pause for a
        rejected key is re-checked); other changes need a restart, which the log says."""
        try:
            fresh = load_config(Path(self.config.source))
            key = fresh.require_api_key()
        except ConfigError as exc:
            log.error("reload failed; the running configuration stays", error=str(exc))
            return
        register_secret(key)
        self._api_key = key
        if self._gate is not None:
            self._gate.recheck_now()
        old, new = self.config.settings, fresh.settings
        needs_restart = [
            name
            for name in ("folders", "database", "watch", "sidecars")
            if getattr(old, name) != getattr(new, name)
        ]
        if old.api.model_copy(update={"key": None, "key_file": None}) != new.api.model_copy(
            update={"key": None, "key_file": None}
        ):
            needs_restart.append("api")
        log.info("configuration reloaded: the API key applies now", restart_to_apply=needs_restart)

    # -- loops ---------------------------------------------------------------------------

    def _loop(self, name: str, step: Callable[[], bool], idle: float) -> None:
        wake = self._wake.get(name)
        while not self.stop.is_set():
            try:
                busy = step()
            except Exception:
                log.exception("unexpected error; carrying on", stage=name)
                busy = False
                self.stop.wait(5)
            if busy:
                continue
            if wake is not None:
                wake.wait(idle)
                wake.clear()
            else:
                self.stop.wait(idle)

    def _start(self, name: str, step: Callable[[], bool], idle: float) -> None:
        thread = threading.Thread(target=self._loop, args=(name, step, idle), name=name)
        thread.daemon = True
        thread.start()
        self._threads.append(thread)

    def _start_pipeline(self, scopes: Sequence[Scope] = ()) -> None:
        submitter, poller, writer = self._stages()
        tick = min(0.5, max(0.05, self.settler.settle_seconds / 4))
        self._start("settler", self._settle_step, tick)
        self._start("submitter", lambda: submitter.step(scopes), 1.0)
        self._start("poller", poller.step, min(0.5, self.config.settings.api.poll_interval))
        self._start("writer", writer.step, 1.0)
        self._gate = submitter.gate

    def _shutdown(self) -> None:
        self.stop.set()
        for event in self._wake.values():
            event.set()
        deadline = time.monotonic() + SHUTDOWN_GRACE
        for thread in self._threads:
            thread.join(timeout=max(0.1, deadline - time.monotonic()))
        self.engine.dispose()

    # -- modes ---------------------------------------------------------------------------

    def run(self) -> int:
        """Watch the folders and tag what arrives until SIGTERM or SIGINT; SIGHUP reloads."""
        _install_stop_signals(self.stop, self.reload)
        self._api_key = self.config.require_api_key()
        self.recover()
        settings = self.config.settings
        folders = settings.folders
        if not folders:
            log.warning(f"{self.config.source}: folders: no folders configured; nothing to watch")
        watcher = Watcher(
            folders,
            self.selector,
            self.settler,
            polling=settings.watch.polling,
            source=self.config.source,
            on_started=lambda folder: self.scan([folder]),
            events=self,
        )
        self._start_pipeline()
        log.info("daemon started", folders=len(folders), database=_safe_url(self.engine))
        retry_every, rescan_every = (
            settings.watch.folder_retry_interval,
            settings.watch.rescan_interval,
        )
        next_ensure, next_rescan = 0.0, time.monotonic() + rescan_every
        while not self.stop.is_set():
            now = time.monotonic()
            if self.reload.is_set():
                self.reload.clear()
                self._reload_config()
            if now >= next_ensure:
                watcher.ensure()
                next_ensure = now + retry_every
            if rescan_every and now >= next_rescan:  # no event is trusted to arrive
                log.info("periodic rescan")
                self.scan([f for f in folders if f.path.is_dir()])
                next_rescan = now + rescan_every
            self.stop.wait(0.5)
        log.info("stopping: finishing sidecar writes; requests in flight resume at next start")
        watcher.stop()
        self._shutdown()
        log.info("stopped")
        return 0

    def drain(
        self,
        folders: Sequence[FolderSettings],
        scopes: Sequence[Scope],
        reporter: Reporter | None = None,
    ) -> int:
        """Process what is in the folders now; return 0 if no file failed, else 1."""
        _install_stop_signals(self.stop)
        self._api_key = self.config.require_api_key()
        self.recover()
        started = utcnow()
        self.scan(folders, scopes)
        self._start_pipeline(scopes)
        try:
            code = self._wait_drained(scopes, started, reporter)
        finally:
            if reporter is not None:
                reporter.close()
        return code

    def _wait_drained(
        self, scopes: Sequence[Scope], started: datetime, reporter: Reporter | None
    ) -> int:
        def finished(counts: dict[str, int]) -> int:
            return counts["done"] + counts["failed"] + counts["skipped"]

        before = finished(self.store.counts(scopes))  # progress counts this scan's work
        while not self.stop.wait(0.2):
            counts = self.store.counts(scopes)
            if reporter is not None:
                total = sum(counts.values()) + len(self.settler) - before
                spent = self.store.credits_spent(since=started)
                reporter.update(finished(counts) - before, total, spent)
            if counts["pending"] == counts["submitted"] == 0 and len(self.settler) == 0:
                break
            pause = self._gate.paused if self._gate is not None else None
            if pause is not None and pause.kind in ("auth", "credits", "budget"):
                log.error("scan stopped: " + pause.reason, pending=counts["pending"])
                self._shutdown()
                return 2
        interrupted = self.stop.is_set()
        self._shutdown()
        counts = self.store.counts(scopes)
        log.info("scan finished", interrupted=interrupted, **counts)
        return 1 if counts["failed"] or interrupted else 0

    def status(self) -> dict[str, Any]:
        """Return what `status` shows: counts, oldest pending age, spend, pause, errors."""
        now = utcnow()
        oldest = self.store.oldest_pending()
        return {
            "counts": self.store.counts(),
            "oldest_pending_seconds": None if oldest is None else (now - oldest).total_seconds(),
            "credits_spent": {
                "total": self.store.credits_spent(),
                "last_24h": self.store.credits_spent(now - timedelta(hours=24)),
            },
            "last_balance": self.store.last_balance(),
            "paused": self.store.get_state("submissions_paused"),
            "recent_errors": [
                {"path": row.path, "state": row.state, "error": row.error}
                for row in self.store.recent_errors()
            ],
            "backend_errors": self.store.backend_errors(),
        }


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


def _safe_url(engine: object) -> str:
    url = getattr(engine, "url", None)
    return url.render_as_string(hide_password=True) if url is not None else "?"


def _install_stop_signals(stop: threading.Event, reload: threading.Event | None = None) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal received", signal=signal.Signals(signum).name)
        (reload if signum == signal.SIGHUP and reload is not None else stop).set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        if reload is not None:
            signal.signal(signal.SIGHUP, handler)


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
        owner = next((f for f in folders if path == f.path or f.path in path.parents), None)
        if owner is None:
            owner = FolderSettings(path=path)
        if owner not in chosen:
            chosen.append(owner)
        prefix = "" if path == owner.path else path.relative_to(owner.path).as_posix()
        scopes.append(Scope(str(owner.path), prefix))
    return chosen, scopes
