"""Claims: workers taking files from the queue to upload them, and giving back what they
could not send (paused, over a cap, a fault, refused). The submitter uses this part; a
claim names its worker (a random id per process start), so one never releases another's.

A claim is a lease: it lapses at its ``next_attempt_at`` (the database's clock) unless its
daemon renews it (``renew``, from the daemon's heartbeat, for what a step of its works on
now), and any daemon then puts the file back in the queue (``take_back_lapsed``). The same
heartbeat renews the sidecar writes and polls its steps hold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, or_, select, update

from ..records import ClaimedJob, Scope, State
from ..rules import policy
from . import transitions as t
from .base import TablePart, free, let_go, write_off
from .schema import OUTSTANDING, SENDING, ApiRequest, Job

POLLED = (*OUTSTANDING, SENDING)  # the requests a daemon may hold


class Claims(TablePart):
    def claim(self, limit: int, scopes: Sequence[Scope] | None = None) -> list[ClaimedJob]:
        """Given a batch size, atomically take up to that many due pending jobs (in
        ``scopes``: the folders this daemon has; None, in tests: anywhere).

        One ``UPDATE … FROM (CTE … LIMIT n FOR UPDATE SKIP LOCKED) … RETURNING``, so that
        several workers (threads, processes, or machines sharing a PostgreSQL table) never
        take the same job; only a CTE is sure to run its LIMIT once on PostgreSQL.
        """
        now = self.clock()
        due = (
            select(Job.id)
            .where(Job.state == State.PENDING, Job.next_attempt_at <= now, self.in_scopes(scopes))
            .order_by(Job.next_attempt_at, Job.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("due")
        )
        taken = t.claimed(now, self.worker, self.lease_end(now))
        statement = t.statement(t.CLAIM, taken, Job.id == due.c.id)
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
                    Job.refresh,
                )
            ).all()
        return sorted((self._claimed(row) for row in rows), key=lambda job: job.id)

    def held(self, job_ids: Sequence[int]) -> set[int]:
        """Given jobs this worker claimed, those it still holds: a claim whose lease lapsed
        (a stall longer than ``database.lease_seconds``) may be another daemon's now."""
        if not job_ids:
            return set()
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(Job.id).where(
                    Job.id.in_(job_ids), Job.state == State.CLAIMED, Job.locked_by == self.worker
                )
            ).scalars()
            return set(rows)

    def renew(self, jobs: Sequence[int], requests: Sequence[str]) -> int:
        """Given the jobs (claims, sidecar writes) and requests (polls, reservations) this
        daemon's stages work on now (``Held``), extend their leases; returns how many it
        renewed. Nothing else it may still name is renewed: that lapses. One that a
        transaction is changing now (the submitter recording its request, say) is left for
        the next renewal."""
        now = self.clock()
        until = self.lease_end(now)
        renewed = 0
        if jobs:
            with self.engine.begin() as conn:
                in_flight = or_(Job.state == State.CLAIMED, Job.state == State.WRITING)
                mine = (in_flight, Job.locked_by == self.worker, Job.id.in_(jobs))
                query = update(Job).where(free(Job.id, *mine)).values(next_attempt_at=until)
                renewed += int(conn.execute(query).rowcount or 0)
        if requests:
            with self.engine.begin() as conn:
                mine = (
                    ApiRequest.status.in_(POLLED),
                    ApiRequest.polled_by == self.worker,
                    ApiRequest.id.in_(requests),
                )
                query = (
                    update(ApiRequest).where(free(ApiRequest.id, *mine)).values(next_poll_at=until)
                )
                renewed += int(conn.execute(query).rowcount or 0)
        return renewed

    def take_back_lapsed(self) -> int:
        """Put back in the queue the files whose claims lapsed: their daemon died, stalled
        longer than its lease, or a step of its failed. A request it was sending when it
        stopped is written off: the API may have taken it (and its credits), but nobody
        knows its id, so its estimate stays counted against the budget (its daemon's
        journal records it, if the API answered). (Lapsed sidecar writes and polls are
        due again by themselves.) Returns how many files went back."""
        now = self.clock()
        with self.engine.begin() as conn:
            sending = ApiRequest.status == SENDING
            write_off(conn, now, free(ApiRequest.id, sending, ApiRequest.next_poll_at < now))
        with self.engine.begin() as conn:
            lapsed = free(Job.id, Job.state == State.CLAIMED, Job.next_attempt_at < now)
            return t.apply(conn, t.ORPHANED, t.pending(now), lapsed)

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
                delete(Job).where(
                    *where, Job.folder == self.name(job.folder), Job.relpath == job.relpath
                )
            ).rowcount
            if not dropped:
                t.apply(conn, t.RELEASE, t.pending(self.clock()), *where)

    def give_back_of(self, workers: Sequence[str]) -> int:
        """Given workers that are gone (this machine's lock of theirs is free, or their
        heartbeat lease lapsed), give back at once what they held rather than when each
        lease lapses: their claims go back to the queue, their sidecar writes and polls are
        due, a reservation of theirs is written off. Returns how many claims went back."""
        if not workers:
            return 0
        with self.engine.begin() as conn:
            self._let_go(conn, list(workers), sending=True)
            return t.apply(conn, t.ORPHANED, t.pending(self.clock()), Job.locked_by.in_(workers))

    def free_stranded(self) -> int:
        """At start: what older versions left behind goes back to the queue. A job waiting
        on a request that ended without it (a rider that joined as the answer came, before
        riding checked the request) waits no more: the cache has its result, or it goes
        again; a claim nobody holds is anyone's. Returns how many jobs went back."""
        ended = (
            ~select(ApiRequest.id)
            .where(ApiRequest.id == Job.request_id, ApiRequest.status.in_(OUTSTANDING))
            .exists()
        )
        with self.engine.begin() as conn:
            stranded = t.apply(conn, t.STRANDED, t.pending(self.clock()), ended)
            return stranded + t.apply(
                conn, t.ORPHANED, t.pending(self.clock()), Job.locked_by.is_(None)
            )

    def let_go(self) -> int:
        """On a clean stop, give back what this daemon holds: claims to the queue, sidecar
        writes and polls due now (another daemon, or the next start, takes them at once).
        Returns how many claims went back."""
        with self.engine.begin() as conn:
            self._let_go(conn, [self.worker], sending=False)
            return t.apply(conn, t.ORPHANED, t.pending(self.clock()), Job.locked_by == self.worker)

    def _let_go(self, conn: Any, workers: list[str], *, sending: bool) -> None:
        """Their sidecar writes and polls, and (``sending``) the requests they were sending:
        the API may have taken them (see take_back_lapsed)."""
        let_go(
            conn, self.clock(), Job.locked_by.in_(workers), ApiRequest.polled_by.in_(workers),
            sending=ApiRequest.sent_by.in_(workers) if sending else None,
        )  # fmt: skip

    def _claimed(self, row: Any) -> ClaimedJob:
        return ClaimedJob(
            row.id, self.path(row.folder), row.relpath, row.size, row.mtime_ns, row.attempts,
            row.faults, row.batch_limit, bool(row.refresh),
        )  # fmt: skip
