"""What keeps a worker's place in the fleet: at its start, saying it runs and taking over what
this machine's ended workers left; then, every third of a lease (the ``leases`` stage),
renewing what its stages hold and its heartbeat, recording the journal, giving back what
failed steps could not, and, once the job table has been steady for a lease, taking back
what others let lapse."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ..config import Config
from ..jobtable import JobTable
from ..jobtable.engine import server_uptime
from ..log import get_logger
from ..pipeline.journal import Journal, replay
from ..rules.outage import Outage
from ..workers import Presence, Worker

log = get_logger("service")


@dataclass
class Heartbeat:
    """Given this worker, its job table, this machine's presence folder and journal, and
    what waiting for the table means now; ``config`` gives the current config (a reload
    changes it), ``on_back`` is told when the table is back after an outage,
    ``on_taken_back`` when lapsed claims went back to the queue."""

    worker: Worker
    table: JobTable
    presence: Presence
    journal: Journal
    outage: Outage
    config: Callable[[], Config]
    on_back: Callable[[], None]
    on_taken_back: Callable[[], None]
    since: datetime
    kind: str = "run"  # or "scan": what `status` calls this process

    def start(self, kind: str) -> int:
        """Say this worker runs (``kind``), free what older versions left, then take over
        what this machine's ended workers left (``after_the_gone``). Returns how many files
        went back to the queue."""
        self.kind = kind
        if not self.presence.holding:
            try:
                self.presence.hold(self.worker)
            except OSError as exc:  # a state directory this user may not write
                log.warning(
                    "cannot keep this daemon's lock file; a killed daemon's work comes back "
                    "when its lease lapses, not at the next start",
                    folder=str(self.presence.folder), error=exc.strerror or str(exc),
                )  # fmt: skip
        self.table.workers.beat(self.worker, self.kind, self.since)
        freed = self.table.claims.free_stranded()
        return freed + self.after_the_gone()

    def after_the_gone(self) -> int:
        """This machine's workers that ended (killed, crashed, or stopped): record the
        uploads their journals hold (the API took them: nothing is paid again), give back at
        once what they held rather than when their leases lapse, count their requests in
        flight in this daemon's cap, and forget them. Each step may be done again."""
        try:
            gone = self.presence.gone()
        except OSError:  # said at start: nothing of this machine's to take over
            return 0
        self.record(lambda worker: not self.presence.running(worker))
        released = self.table.claims.give_back_of(gone)
        if released:
            log.warning("re-queued files claimed by a worker that is gone", files=released)
        if gone:
            self.table.requests.adopt(gone)
            self.table.workers.forget(gone)
            self.presence.forget(gone)
        return released

    def record(self, ended: Callable[[str], bool] | None = None) -> int:
        """Record this worker's journal (or, given ``ended``, the journals of this machine's
        workers it says have ended): what the API answered and the job table lacks."""
        api = self.config().settings.api
        return replay(
            self.journal, self.table, ended,
            retry_delay=api.backoff().delay(1), max_attempts=api.max_attempts,
        )  # fmt: skip

    def step(self) -> bool:
        """Renew what this daemon's stages hold and its heartbeat; once the job table has
        been back for a lease, take back what others let lapse (they died, stalled, or were
        cut off from the table for longer than a lease) and forget workers long silent."""
        lease = self.config().settings.database.lease_seconds
        jobs, requests = self.table.daemon.held.now()
        self.table.claims.renew(jobs, requests)
        # what failed steps could not give back goes back now, once what was paid for is
        # recorded (a claim whose upload the API answered is that request's, not anyone's)
        self.record()
        self.table.claims.give_back_abandoned()
        self.table.workers.beat(self.worker, self.kind, self.since)
        lasted = self.outage.cleared()
        if lasted is not None:
            log.warning("the job table is back; going on", waited_seconds=round(lasted, 1))
            self.on_back()
        self.after_the_gone()
        if not self.outage.settled(lease, server_uptime(self.table.engine)):
            return False
        taken = self.table.claims.take_back_lapsed()
        if taken:
            log.warning("re-queued files whose daemon's claim lapsed", files=taken)
            self.on_taken_back()
        silent = self.table.workers.lapsed()
        if silent:
            self.table.requests.adopt(silent)
            self.table.workers.forget(silent)
        return False

    def stop(self) -> None:
        """A clean stop: let go of what this worker holds (the next daemon need not wait
        for its leases to lapse) and say it no longer runs."""
        self.table.claims.let_go()
        self.table.workers.forget([self.worker.id])
