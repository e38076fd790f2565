"""Claims: workers taking files from the queue to upload them, and giving back what they
could not send (paused, over a cap, a fault, refused). The submitter uses this part; a
claim names its worker, so one never releases another's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Engine, delete, or_, select

from .. import policy
from ..records import ClaimedJob, Clock, Scope, State, utcnow
from ..workers import worker_name
from . import transitions as t
from .base import TablePart, in_scopes
from .schema import Job


class Claims(TablePart):
    def __init__(self, engine: Engine, worker: str | None = None, clock: Clock = utcnow) -> None:
        super().__init__(engine, clock)
        self.worker = worker or worker_name()

    def claim(self, limit: int, scopes: Sequence[Scope] = ()) -> list[ClaimedJob]:
        """Given a batch size, atomically take up to that many due pending jobs.

        One ``UPDATE … FROM (CTE … LIMIT n FOR UPDATE SKIP LOCKED) … RETURNING``, so that
        several workers (threads, processes, or machines sharing a PostgreSQL table) never
        take the same job; only a CTE is sure to run its LIMIT once on PostgreSQL.
        """
        now = self.clock()
        due = (
            select(Job.id)
            .where(Job.state == State.PENDING, Job.next_attempt_at <= now, in_scopes(scopes))
            .order_by(Job.next_attempt_at, Job.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("due")
        )
        statement = t.statement(t.CLAIM, t.claimed(now, self.worker), Job.id == due.c.id)
        with self.engine.begin() as conn:
            rows = conn.execute(
                statement.returning(
                    Job.id,
                    Job.folder,
                    Job.relpath,
                    Job.size,
                    Job.mtime_ns,
                    Job.attempts,
                    Job.faults,
                    Job.batch_limit,
                )
            ).all()
        return sorted((_claimed(row) for row in rows), key=lambda job: job.id)

    def release(
        self, job_ids: Sequence[int], *, delay: float = 0, error: str | None = None
    ) -> None:
        """Given claimed jobs not sent (paused, over a cap, changing), put them back in the
        queue: no attempt is counted."""
        if not job_ids:
            return
        values = t.pending(self.clock(), delay=delay, error=error)
        with self.engine.begin() as conn:
            t.apply(conn, t.RELEASE, values, Job.id.in_(job_ids), Job.locked_by == self.worker)

    def faulted(self, jobs: Sequence[ClaimedJob], error: str, delay: float, max_faults: int) -> str:
        """Given claimed jobs whose upload met a server fault, put them back to wait it out
        (no attempt: not their fault), counting the fault. When one has met ``max_faults`` in
        a row, split the batch, or, alone, fail it: the API cannot process it. Returns what
        was done (``policy.after_faults``)."""
        outcome = policy.after_faults([job.faults + 1 for job in jobs], max_faults)
        now, ids = self.clock(), [job.id for job in jobs]
        owned = (Job.id.in_(ids), Job.locked_by == self.worker)
        with self.engine.begin() as conn:
            if outcome == "wait":
                values = t.pending(now, delay=delay, error=error)
                t.apply(conn, t.RELEASE, values | {"faults": Job.faults + 1}, *owned)
            elif outcome == "split":
                values = t.halved(now, error, len(jobs), delay=delay)
                t.apply(conn, t.RELEASE, values | {"faults": 0}, *owned)
            else:
                reason = f"the API faults whenever this file is sent ({max_faults} times): {error}"
                t.apply(conn, t.NOT_SENT, t.ended(now, State.FAILED, reason), *owned)
        return outcome

    def split(self, job_ids: Sequence[int], error: str) -> None:
        """Given claimed jobs the API refused as a batch, put them back to go in halves."""
        values = t.halved(self.clock(), error, len(job_ids))
        with self.engine.begin() as conn:
            t.apply(conn, t.RELEASE, values, Job.id.in_(job_ids), Job.locked_by == self.worker)

    def retry_later(self, job_id: int, error: str, delay: float, max_attempts: int) -> bool:
        """Given a claimed job the API refused, alone in its request, count the attempt and
        queue it again, or fail it once it has had ``max_attempts``. True when it will be
        tried again."""
        with self.engine.begin() as conn:
            return bool(
                t.try_again(
                    conn, self.clock(), [job_id], error,
                    delay=delay, max_attempts=max_attempts, count=True,
                )
            )  # fmt: skip

    def not_sent(self, job_id: int, state: State, error: str) -> None:
        """Given a claimed job that will not be uploaded, mark it failed or skipped."""
        with self.engine.begin() as conn:
            t.apply(conn, t.NOT_SENT, t.ended(self.clock(), state, error), Job.id == job_id)

    def drop_vanished(self, job: ClaimedJob) -> None:
        """Given a claimed job whose file is gone from where it was claimed, drop it from the
        queue, unless the file was moved meanwhile (its job moved with it): then it goes back
        to the queue, to be taken again from its new place."""
        where = (Job.id == job.id, Job.state == State.CLAIMED)
        with self.engine.begin() as conn:
            dropped = conn.execute(
                delete(Job).where(*where, Job.folder == job.folder, Job.relpath == job.relpath)
            ).rowcount
            if not dropped:
                t.apply(conn, t.RELEASE, t.pending(self.clock()), *where)

    def release_orphaned_claims(self, alive: Callable[[str], bool]) -> int:
        """Given a test of whether a claim's owner still runs, put dead owners' claims back."""
        with self.engine.begin() as conn:
            owners = conn.execute(
                select(Job.locked_by).where(Job.state == State.CLAIMED).distinct()
            ).scalars()
            dead = [owner for owner in owners if owner is None or not alive(owner)]
            if not dead:
                return 0
            owned: ColumnElement[bool] = Job.locked_by.in_([d for d in dead if d is not None])
            if None in dead:
                owned = or_(owned, Job.locked_by.is_(None))
            return t.apply(conn, t.ORPHANED, t.pending(self.clock()), owned)


def _claimed(row: Any) -> ClaimedJob:
    return ClaimedJob(
        row.id, row.folder, row.relpath, row.size, row.mtime_ns, row.attempts, row.faults,
        row.batch_limit,
    )  # fmt: skip
