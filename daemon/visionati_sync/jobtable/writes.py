"""Sidecars to write: jobs whose results are stored, until their sidecars are on disk. The
writer uses this part. A daemon takes the writes it does for a lease (``TAKE_WRITE``), so of
a fleet sharing a folder exactly one writes a given sidecar; one that lost its lease cannot
mark the job done."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update

from ..records import Approval, Scope, State, WriteTask
from . import transitions as t
from .base import TablePart, insert_missing
from .schema import Job, Result, Review


class Writes(TablePart):
    def tasks(self, limit: int = 50, scopes: Sequence[Scope] | None = None) -> list[WriteTask]:
        """Take the jobs (in ``scopes``: the folders this daemon has; None, in tests:
        anywhere) whose results are
        stored and whose sidecars are due to be written."""
        now = self.clock()
        due = (
            select(Job.id)
            .where(Job.state == State.WRITING, Job.next_attempt_at <= now, self.in_scopes(scopes))
            .order_by(Job.next_attempt_at, Job.id)  # the index's order: no sort of them all
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("due_writes")
        )
        taken = t.writing_taken(now, self.worker, self.lease_end(now))
        with self.engine.begin() as conn:
            ids = (
                conn.execute(t.statement(t.TAKE_WRITE, taken, Job.id == due.c.id).returning(Job.id))
                .scalars()
                .all()
            )
            return self._read(conn, list(ids))

    def waiting(self, scopes: Sequence[Scope] | None) -> list[WriteTask]:
        """The results in ``scopes`` that wait for the user's review (nothing is taken)."""
        with self.engine.begin() as conn:
            ids = conn.execute(
                select(Job.id).where(Job.state == State.REVIEW, self.in_scopes(scopes))
            ).scalars()
            return self._read(conn, list(ids))

    def hold(self, job_ids: Sequence[int]) -> None:
        """Given jobs whose folder reviews results before writing, let them wait for `apply`."""
        if job_ids:
            with self.engine.begin() as conn:
                t.apply(conn, t.HOLD, t.held(self.clock()), Job.id.in_(job_ids), self._held)

    def approve(self, scopes: Sequence[Scope]) -> list[int]:
        """Take the results in ``scopes`` that wait for review, approved, to write them now
        (a lease: if this process stops, any daemon writes them). Returns their ids."""
        now = self.clock()
        values = t.applied(now, self.worker, self.lease_end(now))
        with self.engine.begin() as conn:
            query = t.statement(t.APPLY, values, self.in_scopes(scopes)).returning(Job.id)
            return sorted(conn.execute(query).scalars())

    def mine(self, job_ids: Sequence[int]) -> list[WriteTask]:
        """Given jobs this process took to write, those still to be written, as tasks."""
        with self.engine.begin() as conn:
            ids = conn.execute(
                select(Job.id).where(
                    Job.id.in_(job_ids), Job.state == State.WRITING, Job.locked_by == self.worker
                )
            ).scalars()
            return self._read(conn, list(ids))

    def _read(self, conn: Any, ids: list[int]) -> list[WriteTask]:
        return read_tasks(conn, ids, self.path)

    def done(self, job_ids: Sequence[int]) -> None:
        """Given jobs whose sidecars are written and durable, mark them done together."""
        if job_ids:
            with self.engine.begin() as conn:
                t.apply(conn, t.WRITTEN, t.done(self.clock()), Job.id.in_(job_ids), self._held)

    def changed(self, job_id: int, size: int, mtime_ns: int) -> None:
        """Given a job whose file changed after upload, queue it again (its result is stale)."""
        values = t.pending(self.clock(), fresh=True) | {"size": size, "mtime_ns": mtime_ns}
        with self.engine.begin() as conn:
            t.apply(conn, t.CHANGED, values, Job.id == job_id, self._held)

    def unchanged(self, job_id: int, size: int, mtime_ns: int) -> None:
        """Given a job whose file was touched but holds the same bytes, remember the new stat."""
        with self.engine.begin() as conn:
            conn.execute(update(Job).where(Job.id == job_id).values(size=size, mtime_ns=mtime_ns))

    def embedded(self, job_id: int, size: int, mtime_ns: int, file_sha256: str, key: str) -> bool:
        """Given a job whose file is about to carry its tags (our own write, not yet renamed
        into place), take the new bytes as the ones its result describes, in one
        transaction: the job's signature, and the results cache's entry for them (``key``,
        their content key), so a rescan, a move or a copy of the file pays nothing again.
        Returns False, changing nothing, when the job is no longer this daemon's to write."""
        with self.engine.begin() as conn:
            columns = (Result.options_fp, Result.request_id, Result.tagged_at,
                       Result.options_json, Result.asset_json, Result.errors_json)  # fmt: skip
            row = conn.execute(
                select(*columns).join(Job, Job.result_id == Result.id)
                .where(Job.id == job_id, self._held)
            ).first()  # fmt: skip
            if row is None:
                return False
            alias = {"sha256": key} | dict(row._mapping)
            insert_missing(conn, Result, [Result.sha256, Result.options_fp], [alias])
            own = None if file_sha256 == key else file_sha256
            conn.execute(
                update(Job).where(Job.id == job_id)
                .values(size=size, mtime_ns=mtime_ns, sha256=key, file_sha256=own)
            )  # fmt: skip
            return True

    def later(self, job_id: int, error: str, delay: float) -> None:
        """Given a job whose sidecars the disk or the folder refused, try again after
        ``delay``: its result is paid for and kept."""
        with self.engine.begin() as conn:
            values = t.write_later(self.clock(), error, delay)
            t.apply(conn, t.WRITE_LATER, values, Job.id == job_id, self._held)

    def failed(self, job_id: int, error: str) -> None:
        """Given a job whose sidecars could not be written, fail it with the reason."""
        values = t.ended(self.clock(), State.FAILED, error)
        with self.engine.begin() as conn:
            t.apply(conn, t.WRITE_FAILED, values, Job.id == job_id, self._held)

    @property
    def _held(self) -> ColumnElement[bool]:
        """Held by this daemon, or by none: never another's write."""
        return or_(Job.locked_by == self.worker, Job.locked_by.is_(None))


def read_tasks(conn: Any, ids: list[int], path: Callable[[str], str]) -> list[WriteTask]:
    """Given job ids with stored results, each as a task: the file, its result, and what a
    reviewer approved of it (``reviews``), in id order."""
    if not ids:
        return []
    rows = conn.execute(
        select(
            Job.id,
            Job.folder,
            Job.relpath,
            Job.size,
            Job.mtime_ns,
            func.coalesce(Job.file_sha256, Result.sha256).label("sha256"),
            Job.sent_json,
            Result.request_id,
            Result.tagged_at,
            Result.options_json,
            Result.asset_json,
            Job.write_attempts,
            Job.approved,
            Review.kept_json,
            Review.description,
        )
        .join(Result, Result.id == Job.result_id)
        .outerjoin(  # a review counts for the result it approved: one the user applied
            Review, (Review.job_id == Job.id) & (Review.decision == "accept") & Job.approved
        )
        .where(Job.id.in_(ids))
        .order_by(Job.id)
    ).all()
    return [
        WriteTask(
            r.id,
            path(r.folder),
            r.relpath,
            r.size,
            r.mtime_ns,
            r.sha256,
            r.request_id,
            r.tagged_at,
            json.loads(r.options_json),
            json.loads(r.asset_json),
            r.write_attempts,
            json.loads(r.sent_json) if r.sent_json else None,
            bool(r.approved),
            None
            if r.kept_json is None
            else Approval(frozenset(json.loads(r.kept_json)), r.description),
        )
        for r in rows
    ]
