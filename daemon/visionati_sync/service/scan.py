"""A scan's lifetime (`scan`): the daemon's parts run until the files in the scan's folders are
done, then it ends, with an exit status that says how it went. A scan that stops early (a
signal, a cap, no credits) uploads nothing more and collects what it already paid for; a
second signal, or ``scan.collect_timeout``, leaves that to the next run."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from ..config import FolderSettings
from ..log import get_logger
from ..records import Reporter, Scope, utcnow
from ..rules.policy import STOPS_A_SCAN, PauseKind
from .daemon import EXIT_TROUBLE, Service
from .starting import install_signals

log = get_logger("service")

NOTIFY_TIMEOUT = 30.0  # seconds a scan ending waits for the photo managers to be told


class Scan:
    """Given the daemon's parts over the job table, one pass over folders."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.table = service.table
        self.collecting = threading.Event()  # stopping: no uploads, collect what went

    def ask_again(
        self, folders: Sequence[FolderSettings], scopes: Sequence[Scope], *, refresh: bool
    ) -> int:
        """`scan --refresh` (every tagged file, past the results cache) or `--retag` (files
        tagged under other options than their folder's now, and untagged ones): queue
        again the files of the scan's walk that qualify. Returns how many."""
        queue, config = self.table.queue, self.service.config

        def again(folder: FolderSettings, relpaths: list[str]) -> int:
            root = str(folder.path)
            if refresh:
                return queue.refresh(root, relpaths)
            return queue.retag(root, relpaths, config.options_for(root).fingerprint())

        return self.service.intake.ask_again(folders, scopes, again)

    def drain(
        self,
        folders: Sequence[FolderSettings],
        scopes: Sequence[Scope],
        reporter: Reporter | None = None,
    ) -> int:
        """Process what is in the folders now; return 0 if no file failed, 1 if one did (or
        the scan was interrupted), 2 if uploads cannot go on (key, credits, budget). A scan
        that stops early collects what it paid for first (see ``_wait_drained``)."""
        install_signals(self._signal)
        started, service = utcnow(), self.service
        service.use_key()
        service.heartbeat.start("scan")
        service.intake.scan(folders, scopes)
        service.own += [s for s in (Scope(str(f.path)) for f in folders) if s not in service.own]
        service.start_pipeline(
            scopes, progress=False, uploading=lambda: not self.collecting.is_set()
        )
        try:
            return self._wait_drained(scopes, started, reporter)
        finally:
            if reporter is not None:
                reporter.close()

    def _signal(self) -> None:
        """A scan's Ctrl-C or SIGTERM: the first stops uploads and collects what was paid
        for; a second leaves that to the next run. (A signal handler: it only says so.)"""
        if self.collecting.is_set():
            self.service.halt()
        else:
            self.collecting.set()

    def _wait_drained(
        self, scopes: Sequence[Scope], started: datetime, reporter: Reporter | None
    ) -> int:
        """Wait until the scan's files are done; or, once it stops early (a signal, or a
        pause that stops a scan), until what was already sent is collected and written, up
        to ``scan.collect_timeout``. Returns the exit status."""
        service, reports = self.service, self.table.reports
        before = _finished(reports.counts(scopes))  # progress counts this scan's work
        next_count = 0.0
        stopped: int | None = None  # the status a pause that stops a scan decided
        collect_until: float | None = None  # collecting what was sent, until then
        for _ in _ticks(service.stop, 0.2):  # at once: a scan with nothing to do ends now
            pause = service.paused()
            if pause is not None and pause.kind in STOPS_A_SCAN and stopped is None:
                log.error("scan stopped: " + pause.reason)
                stopped = 2
                if pause.kind is PauseKind.AUTH:  # a poll needs the key as much as an upload
                    self._left_in_flight("until the key is accepted")
                    break
                self.collecting.set()
            if self.collecting.is_set() and collect_until is None:
                collect_until = time.monotonic() + service.config.settings.scan.collect_timeout
                self._start_collecting()
                next_count = 0.0
            if collect_until is not None and time.monotonic() > collect_until:
                self._left_in_flight("after scan.collect_timeout")
                break
            if time.monotonic() < next_count:
                continue
            counted = time.monotonic()
            try:
                settling = len(service.settler)  # before the counts: a file leaves the
                counts = reports.counts(scopes)  # settler only once it is queued
                next_count = counted + 10 * (time.monotonic() - counted)  # a tenth of a core
                spent = reports.credits_spent(since=started) if reporter is not None else 0
                left = counts["pending"] == 0 and settling == 0
                ask = (left or collect_until is not None) and counts["submitted"]
                waiting = reports.waiting_to_write(scopes) if ask else 0
            except SQLAlchemyError as exc:  # the job table away: the stages wait for it too
                next_count = counted + service.trouble("scan", exc)
                continue
            if reporter is not None:
                total = sum(counts.values()) + len(service.settler) - before
                reporter.update(_finished(counts) - before, total, spent)
            if (collect_until is not None or left) and counts["submitted"] == waiting:
                break  # all that is left waits for the disk
        if service.stop.is_set() and collect_until is not None:
            self._left_in_flight("at a second signal")
        interrupted = service.stop.is_set() or (self.collecting.is_set() and stopped is None)
        if service.notices.dispatchers and not service.stop.is_set():
            untold = service.notices.flush(service.stop, NOTIFY_TIMEOUT)
            if untold:
                log.warning("photo managers not told yet: the daemon or the next scan tells "
                            "them", notices=untold)  # fmt: skip
        service.shutdown()
        if reporter is not None:  # its last line before "scan finished", not after it
            reporter.close()
        if service.failure:
            return EXIT_TROUBLE
        return self._ended(scopes, stopped, interrupted)

    def _ended(self, scopes: Sequence[Scope], stopped: int | None, interrupted: bool) -> int:
        """Say how the scan ended; return its exit status."""
        reports = self.table.reports
        counts = reports.counts(scopes)
        waiting = reports.waiting_to_write(scopes)
        if waiting:
            log.error(
                "sidecars not written yet: the disk or the folder refused them; their results "
                "are kept and written by the daemon or the next scan, with no upload",
                files=waiting,
            )
        if counts["review"]:
            log.info(
                "results wait for review: `preview` shows them, `apply` writes them",
                files=counts["review"],
            )
        log.info("scan finished", interrupted=interrupted, **counts)
        if stopped is not None:
            return stopped
        return 1 if counts["failed"] or waiting or interrupted else 0

    def _start_collecting(self) -> None:
        """No more uploads (one under way goes, so that it is collected too); say what is
        collected, and how to leave it instead."""
        while not self.service.runner.end("submitter", 0.2) and not self.service.stop.is_set():
            pass
        log.warning(
            "no more uploads; collecting the results already paid for "
            "(Ctrl-C again leaves them to the next run)",
            requests=len(self.table.requests.outstanding_ids()),
        )

    def _left_in_flight(self, when: str) -> None:
        """Name the requests left with the API: the next scan, or the daemon, collects them
        (the job table has them), with no upload and nothing paid twice."""
        left = self.table.requests.outstanding_ids()
        if left:
            log.warning(
                f"requests left with the API {when}; the next scan or the daemon collects "
                "them, with no upload",
                requests=left,
            )


def _finished(counts: dict[str, int]) -> int:
    ended = ("done", "failed", "skipped", "review", "untagged")
    return sum(counts[state] for state in ended)


def _ticks(stop: threading.Event, every: float) -> Iterator[None]:
    """Now, then every ``every`` seconds, until ``stop`` is set."""
    while not stop.is_set():
        yield
        stop.wait(every)
