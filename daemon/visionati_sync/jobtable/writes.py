"""Sidecars to write: jobs whose results are stored, until their sidecars are on disk. The
writer uses this part."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import func, select, update

from ..records import State, WriteTask
from . import transitions as t
from .base import TablePart
from .schema import Job, Result


class Writes(TablePart):
    def tasks(self, limit: int = 50) -> list[WriteTask]:
        """Return jobs whose results are stored and whose sidecars are due to be written."""
        with self.engine.begin() as conn:
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
                )
                .join(Result, Result.id == Job.result_id)
                .where(Job.state == State.WRITING, Job.next_attempt_at <= self.clock())
                .order_by(Job.id)
                .limit(limit)
            ).all()
        return [
            WriteTask(
                r.id,
                r.folder,
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
            )
            for r in rows
        ]

    def done(self, job_ids: Sequence[int]) -> None:
        """Given jobs whose sidecars are written and durable, mark them done together."""
        if job_ids:
            with self.engine.begin() as conn:
                t.apply(conn, t.WRITTEN, t.done(self.clock()), Job.id.in_(job_ids))

    def changed(self, job_id: int, size: int, mtime_ns: int) -> None:
        """Given a job whose file changed after upload, queue it again (its result is stale)."""
        values = t.pending(self.clock(), fresh=True) | {"size": size, "mtime_ns": mtime_ns}
        with self.engine.begin() as conn:
            t.apply(conn, t.CHANGED, values, Job.id == job_id)

    def unchanged(self, job_id: int, size: int, mtime_ns: int) -> None:
        """Given a job whose file was touched but holds the same bytes, remember the new stat."""
        with self.engine.begin() as conn:
            conn.execute(update(Job).where(Job.id == job_id).values(size=size, mtime_ns=mtime_ns))

    def later(self, job_id: int, error: str, delay: float) -> None:
        """Given a job whose sidecars the disk or the folder refused, try again after
        ``delay``: its result is paid for and kept."""
        with self.engine.begin() as conn:
            values = t.write_later(self.clock(), error, delay)
            t.apply(conn, t.WRITE_LATER, values, Job.id == job_id)

    def failed(self, job_id: int, error: str) -> None:
        """Given a job whose sidecars could not be written, fail it with the reason."""
        values = t.ended(self.clock(), State.FAILED, error)
        with self.engine.begin() as conn:
            t.apply(conn, t.WRITE_FAILED, values, Job.id == job_id)
