"""The file queue: files enter it (found, changed, moved, deleted), workers claim them, and
what could not be sent goes back or ends. Intake and the submitter use this part."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Engine, delete, insert, or_, select, update

from .. import policy
from ..options import RequestOptions
from ..records import ClaimedJob, Clock, FileSeen, Scope, State, utcnow
from ..workers import worker_name
from . import transitions as t
from .base import TablePart, in_scopes
from .schema import Job, Result

CHUNK = 500  # files looked up per statement when queueing


class FileQueue(TablePart):
    def __init__(self, engine: Engine, worker: str | None = None, clock: Clock = utcnow) -> None:
        super().__init__(engine, clock)
        self.worker = worker or worker_name()

    # -- files arriving, changing, moving, going -------------------------------------------

    def changed(self, folder: str, directory: str, files: Sequence[FileSeen]) -> list[FileSeen]:
        """Given the files found in one directory of a folder, return those the table does not
        know with this size and mtime: a rescan of an unchanged library reads no file, and
        this one query per directory is all it costs."""
        if not files:
            return []
        # one contiguous range of the (folder, relpath) index per directory, in plain SQL: a
        # rescan runs this for every directory of the library, and random lookups or the
        # expression layer would cost more than the walk itself. Paths are stored as bytes.
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        sql = f"SELECT relpath, size, mtime_ns FROM jobs WHERE folder = {mark}"  # noqa: S608
        params: tuple[bytes, ...] = (os.fsencode(folder),)
        if directory:
            sql += f" AND relpath >= {mark} AND relpath < {mark}"
            params += (os.fsencode(f"{directory}/"), os.fsencode(f"{directory}0"))
        depth = directory.count("/") + 1 if directory else 0
        raw = self.engine.raw_connection()  # one SELECT is atomic: no transaction to open
        try:
            cursor = raw.cursor()
            cursor.execute(sql, params)
            rows = cursor.fetchall()  # plain tuples: no row objects for 50,000 files
            cursor.close()
        finally:
            raw.close()
        known = {}
        for stored, size, mtime_ns in rows:
            relpath = os.fsdecode(bytes(stored))
            if relpath.count("/") == depth:  # not a sub-folder's file
                known[relpath] = (size, mtime_ns)
        return [f for f in files if known.get(f.relpath) != (f.size, f.mtime_ns)]

    def enqueue(
        self, folder: str, files: Iterable[FileSeen], *, retag_on_change: bool = True
    ) -> Counter[str]:
        """Given complete files found in a folder, queue the new and the changed ones.

        A file already known with the same size and mtime is left alone. One that changed is
        queued again unless it is in flight (the writer re-checks it before writing); a
        re-tag of unchanged bytes is served from the results cache, so it costs nothing.
        Returns counts of ``new``, ``requeued``, ``updated``, ``inflight`` and ``unchanged``.
        """
        counts: Counter[str] = Counter()
        batch = list(files)
        if not batch:
            return counts
        now = self.clock()
        with self.engine.begin() as conn:
            for start in range(0, len(batch), CHUNK):
                chunk = batch[start : start + CHUNK]
                known = {
                    r.relpath: r
                    for r in conn.execute(
                        select(Job.id, Job.relpath, Job.size, Job.mtime_ns, Job.state).where(
                            Job.folder == folder, Job.relpath.in_([f.relpath for f in chunk])
                        )
                    )
                }
                new_rows = []
                for seen in chunk:
                    row = known.get(seen.relpath)
                    stat = {"size": seen.size, "mtime_ns": seen.mtime_ns}
                    if row is None:
                        new_rows.append(t.new_job(folder, seen, now))
                        counts["new"] += 1
                    elif (row.size, row.mtime_ns) == (seen.size, seen.mtime_ns):
                        counts["unchanged"] += 1
                    elif row.state in t.IN_FLIGHT:
                        counts["inflight"] += 1  # the writer compares before it writes
                    elif row.state in (State.FAILED, State.SKIPPED) or (
                        row.state == State.DONE and retag_on_change
                    ):
                        t.apply(
                            conn, t.REQUEUE, t.pending(now, fresh=True) | stat, Job.id == row.id
                        )
                        counts["requeued"] += 1
                    else:  # pending already, or done and not to be re-tagged: new stat only
                        conn.execute(
                            update(Job).where(Job.id == row.id).values(**stat, updated_at=now)
                        )
                        counts["updated"] += 1
                if new_rows:
                    conn.execute(insert(Job), new_rows)
        return counts

    def move(
        self, folder: str, relpath: str, new_folder: str, new_relpath: str
    ) -> tuple[int, State] | None:
        """Given a file moved or renamed inside the watched folders, move its job with it: no
        new upload. A tagged file gets its sidecars written at the new place from the stored
        result. Returns the job's id and state, or None when there was no job to move."""
        now = self.clock()
        place = {"folder": new_folder, "relpath": new_relpath}
        with self.engine.begin() as conn:
            row = conn.execute(
                select(Job.id, Job.state, Job.result_id).where(
                    Job.folder == folder, Job.relpath == relpath
                )
            ).one_or_none()
            taken = conn.execute(
                select(Job.id).where(Job.folder == new_folder, Job.relpath == new_relpath)
            ).scalar_one_or_none()
            if row is None or taken is not None:
                return None
            if row.state == State.DONE and row.result_id is not None:
                t.apply(conn, t.MOVED, t.writing(now, row.result_id) | place, Job.id == row.id)
                return row.id, State.WRITING
            conn.execute(update(Job).where(Job.id == row.id).values(**place, updated_at=now))
            return row.id, State(row.state)

    def forget(self, folder: str, relpath: str) -> tuple[int, State] | None:
        """Given a file that was deleted, drop its job unless a request or a write holds it;
        return its id and the state it had. Its result stays in the cache: a file put back
        costs nothing."""
        with self.engine.begin() as conn:
            row = conn.execute(
                delete(Job)
                .where(
                    Job.folder == folder,
                    Job.relpath == relpath,
                    Job.state.in_(t.FORGETTABLE),
                )
                .returning(Job.id, Job.state)
            ).one_or_none()
            return None if row is None else (row.id, State(row.state))

    # -- what the user asks for ------------------------------------------------------------

    def retry(self, job_ids: Sequence[int] = (), *, every: bool = False) -> int:
        """Put failed jobs (these, or all) back in the queue with a fresh count of attempts."""
        if not job_ids and not every:
            return 0
        chosen = [] if every else [Job.id.in_(job_ids)]
        with self.engine.begin() as conn:
            return t.apply(conn, t.RETRY, t.pending(self.clock(), fresh=True), *chosen)

    def requeue_for_retag(self, options: RequestOptions, scopes: Sequence[Scope] = ()) -> int:
        """Given the current options, queue again every done file tagged under other ones."""
        stale = (
            select(Job.id)
            .join(Result, Result.id == Job.result_id)
            .where(Job.state == State.DONE, Result.options_fp != options.fingerprint())
            .where(in_scopes(scopes))
        )
        with self.engine.begin() as conn:
            return t.apply(
                conn, t.RETAG, t.pending(self.clock(), fresh=True),
                Job.id.in_(stale.scalar_subquery()),
            )  # fmt: skip

    # -- workers taking files, and giving back what they could not send --------------------

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
                values = t.pending(now, delay=delay, error=f"{error}; tried in smaller batches")
                limit = policy.smaller_batch(len(jobs))
                t.apply(conn, t.RELEASE, values | {"faults": 0, "batch_limit": limit}, *owned)
            else:
                reason = f"the API faults whenever this file is sent ({max_faults} times): {error}"
                t.apply(conn, t.NOT_SENT, t.ended(now, State.FAILED, reason), *owned)
        return outcome

    def split(self, job_ids: Sequence[int], error: str) -> None:
        """Given claimed jobs the API refused as a batch, put them back to go in halves."""
        limit = policy.smaller_batch(len(job_ids))
        values = t.pending(self.clock(), error=f"{error}; tried in smaller batches")
        with self.engine.begin() as conn:
            owned = (Job.id.in_(job_ids), Job.locked_by == self.worker)
            t.apply(conn, t.RELEASE, values | {"batch_limit": limit}, *owned)

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
