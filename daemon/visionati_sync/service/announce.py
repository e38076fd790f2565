"""What a running daemon tells the world beside its log of events: systemd's status line and
watchdog (withheld while a stage is stuck, so that systemd restarts a hung daemon), the
journal's progress line, and Prometheus's /metrics. The service wires these in; their
decisions (what a line says, what counts as stuck) live here, not in the daemon's lifetime.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from datetime import date, datetime
from datetime import time as dt_time
from typing import Any

from ..jobtable import JobTable
from ..log import get_logger
from ..pipeline.gate import Closed
from ..records import Scope
from .notify import Notifier

log = get_logger("service")

# A step running longer than this is a stuck stage: the watchdog is no longer told we are
# alive, and systemd restarts the daemon (the longest honest step, a large upload on a slow
# line, takes minutes). $VISIONATI_SYNC_HANG_AFTER changes it, for the tests.
HANG_AFTER = 600.0
HANG_AFTER_ENV = "VISIONATI_SYNC_HANG_AFTER"


def service_status(
    counts: dict[str, int], in_flight: int, credits_today: int, paused: str | None
) -> str:
    """What ``systemctl status`` shows of a running daemon, on one line."""
    parts = [
        f"{counts.get('done', 0):,} done",
        f"{counts.get('pending', 0):,} pending",
        f"{in_flight} requests in flight",
        f"{credits_today:,} credits today",
    ]
    if counts.get("failed"):
        parts.insert(2, f"{counts['failed']:,} failed")
    if counts.get("review"):
        parts.insert(2, f"{counts['review']:,} waiting for review")
    if paused:
        parts.append(f"paused: {paused}")
    return " · ".join(parts)


def waiting_status(reason: str) -> str:
    """What systemd's status says while the job table cannot be used."""
    return f"waiting for the job table: {reason}"


class Announcer:
    """Given the job table and how to ask the daemon's current parts (they are rebuilt by a
    reload): which stages are stuck, why uploads are paused, which folders are its own, and
    what the job table's trouble is, if it has one."""

    def __init__(
        self,
        table: JobTable,
        hung: Callable[[float], list[str]],
        paused: Callable[[], Closed | None],
        own: Callable[[], Sequence[Scope]],
        waiting: Callable[[], str | None] = lambda: None,
        notifier: Notifier | None = None,
    ) -> None:
        self.table = table
        self.hung = hung
        self.paused = paused
        self.own = own
        self.trouble = waiting
        self.notifier = notifier or Notifier()
        self._hung: list[str] = []  # stages the watchdog was last told nothing about
        self._last_counts: dict[str, int] | None = None  # as the last progress line saw

    def notify_step(self) -> bool:
        """Tell systemd, while no stage is stuck in a step, that the daemon is alive (a
        hung stage gets it restarted by the watchdog; one waiting for the job table is not
        hung), then what it is doing. Never raises: the job table away, it says so."""
        hung = self.hung(float(os.environ.get(HANG_AFTER_ENV, HANG_AFTER)))
        if hung != self._hung:
            if hung:
                log.error("a stage is stuck; the watchdog is no longer told we are alive",
                          stages=hung)  # fmt: skip
            self._hung = hung
        if not hung and self.notifier.watchdog_interval is not None:
            self.notifier.watchdog()
        reason = self.trouble()
        if reason is None:
            with contextlib.suppress(Exception):  # the stage that met it says what it was
                self.notifier.status(self.status_line())
        self.waiting(reason)
        return False

    def waiting(self, reason: str | None) -> None:
        """Tell systemd at once that the daemon waits for the job table (``reason``), or
        no longer does (None: the next status line says what it does)."""
        if reason is not None:
            self.notifier.status(waiting_status(reason))

    def progress_step(self) -> bool:
        """Say at info what the daemon did since the last line, when it did anything: a
        backfill's journal holds a line a minute, not one per file."""
        counts = self.table.reports.counts(self.own())
        if counts == self._last_counts:
            return False
        last = self._last_counts or counts
        self._last_counts = counts
        ended = ("done", "failed", "skipped", "review")
        log.info(
            "progress",
            **{f"{state}_since": counts[state] - last[state] for state in ended},
            pending=counts["pending"], in_flight=counts["submitted"],
            requests=self.table.requests.outstanding(),
        )  # fmt: skip
        return False

    def status_line(self) -> str:
        """What `systemctl status` shows of the daemon, from the job table."""
        reports = self.table.reports
        midnight = datetime.combine(date.today(), dt_time(0)).astimezone()
        paused = self.paused()
        return service_status(
            reports.counts(), self.table.requests.outstanding(),
            reports.credits_spent(since=midnight), paused.reason if paused else None,
        )  # fmt: skip

    def serve_metrics(self, listen: str | None) -> Any:
        """Serve /metrics where ``metrics.listen`` says (None: not asked for); the server,
        to shut down, or None."""
        if listen is None:
            return None
        from . import metrics

        def paused() -> str | None:
            closed = self.paused()
            return str(closed.kind) if closed is not None else None

        try:
            server = metrics.serve(listen, self.table, paused)
        except OSError as exc:  # the port is taken: the daemon works on without metrics
            log.error("metrics.listen: cannot listen; no metrics", listen=listen, error=str(exc))
            return None
        log.info("metrics served", url=f"http://{listen}/metrics")
        return server
