"""What the job table says about itself: counts, the files and their errors, credits, and
the facts the daemon shares with `status` in other processes (why uploads are paused).
Read by `status`, `jobs`, `estimate`, the budget and the scan's progress."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, delete, func, select

from ..records import VISIBLE_STATES, Charge, JobRow, Scope, State, local_midnight, shown
from .base import TablePart, dialect_insert
from .schema import OUTSTANDING, PAUSED, SENDING, ApiRequest, DaemonState, Job, Result
from .workers import Workers


class KnownFile(NamedTuple):
    state: State
    size: int
    mtime_ns: int
    options_fp: str | None  # of its stored result, if it has one


class Reports(TablePart):
    def counts(self, scopes: Sequence[Scope] | None = None) -> dict[str, int]:
        """Return the number of jobs in each user-visible state (claimed counts as pending)."""
        query = select(Job.state, func.count()).where(self.in_scopes(scopes)).group_by(Job.state)
        counts = dict.fromkeys(map(str, VISIBLE_STATES), 0)
        with self.engine.begin() as conn:
            for state, count in conn.execute(query):
                counts[State(state).visible] += count
        return counts

    def waiting_to_write(self, scopes: Sequence[Scope] | None = None) -> int:
        """How many paid results wait for the disk or the folder to take their sidecars."""
        query = select(func.count()).where(
            Job.state == State.WRITING, Job.write_attempts > 0, self.in_scopes(scopes)
        )
        with self.engine.begin() as conn:
            return int(conn.execute(query).scalar_one())

    def jobs(self, state: State | None = None, limit: int | None = None) -> list[JobRow]:
        query = select(Job).order_by(Job.id)
        if state is not None:
            query = query.where(Job.state.in_(State.internal(state)))
        if limit is not None:
            query = query.limit(limit)
        with self.engine.begin() as conn:
            return [self._job_row(j) for j in conn.execute(query).all()]

    def states(self, job_ids: Sequence[int]) -> dict[int, State]:
        """Given job ids, the state of each that exists."""
        with self.engine.begin() as conn:
            rows = conn.execute(select(Job.id, Job.state).where(Job.id.in_(job_ids)))
            return {job_id: State(state) for job_id, state in rows}

    def recent_errors(self, limit: int = 5) -> list[JobRow]:
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(Job)
                .where(Job.error.is_not(None))
                .order_by(Job.updated_at.desc())
                .limit(limit)
            ).all()
        return [self._job_row(j) for j in rows]

    def backend_errors(self, limit: int = 5) -> list[dict[str, Any]]:
        """The most recent per-backend failures the API reported alongside results."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(Result.request_id, Result.tagged_at, Result.errors_json)
                .where(Result.errors_json.is_not(None))
                .order_by(Result.tagged_at.desc())
                .limit(limit)
            ).all()
        return [
            {"request_id": r.request_id, "at": r.tagged_at.isoformat(),
             "errors": json.loads(r.errors_json)}
            for r in rows
        ]  # fmt: skip

    def price_drift(self) -> list[dict[str, Any]]:
        """For each option set whose latest completed request cost other than the price
        table said: that request, what it cost, what the table said. Two reads, whatever
        the number of requests: the latest per option set, then those."""
        charged = ApiRequest.credits_paid.is_not(None) & ApiRequest.credits_estimated.is_not(None)
        with self.engine.begin() as conn:
            latest = (
                select(ApiRequest.options_fp, func.max(ApiRequest.finished_at).label("at"))
                .where(ApiRequest.status == "completed", charged)
                .group_by(ApiRequest.options_fp)
                .subquery()
            )
            rows = conn.execute(
                select(ApiRequest.id, ApiRequest.options_json, ApiRequest.credits_paid,
                       ApiRequest.credits_estimated)
                .join(latest, (latest.c.options_fp == ApiRequest.options_fp)
                      & (latest.c.at == ApiRequest.finished_at))
                .where(ApiRequest.credits_paid != ApiRequest.credits_estimated)
            ).all()  # fmt: skip
        return [
            {"request_id": r.id, "options": json.loads(r.options_json),
             "charged": r.credits_paid, "estimated": r.credits_estimated}
            for r in rows
        ]  # fmt: skip

    def done_since(self, since: datetime) -> int:
        """Files done since then (the dashboard's pace)."""
        query = select(func.count()).where(Job.state == State.DONE, Job.done_at >= since)
        with self.engine.begin() as conn:
            return int(conn.execute(query).scalar_one())

    def oldest_pending(self) -> datetime | None:
        """When the oldest file still to be sent came: one index seek per state."""
        with self.engine.begin() as conn:
            firsts = [
                conn.execute(
                    select(Job.created_at)
                    .where(Job.state == state)
                    .order_by(Job.created_at)
                    .limit(1)
                ).scalar_one_or_none()
                for state in State.internal(State.PENDING)
            ]
        return min((first for first in firsts if first is not None), default=None)

    def known(self, folder: str, relpaths: Sequence[str]) -> dict[str, KnownFile]:
        """Given files of a folder, what the table knows of each: its state, the size and
        mtime it was seen with, and the options its stored result is under (if any)."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(Job.relpath, Job.state, Job.size, Job.mtime_ns, Result.options_fp)
                .outerjoin(Result, Result.id == Job.result_id)
                .where(Job.folder == self.name(folder), Job.relpath.in_(relpaths))
            )
            return {
                r.relpath: KnownFile(State(r.state), r.size, r.mtime_ns, r.options_fp) for r in rows
            }

    # -- credits ---------------------------------------------------------------------------

    def credits_spent(self, since: datetime | None = None, *, open_only: bool = False) -> int:
        """Credits spent on the requests sent since ``since``, counted as `costs` counts
        them (``charges``): what each was charged, or, while the API has it, what the price
        table says. ``open_only``: only the requests the API still has."""
        query = select(func.coalesce(func.sum(SPENT), 0)).where(ApiRequest.status != SENDING)
        if open_only:
            query = query.where(ApiRequest.status.in_(OUTSTANDING))
        if since is not None:
            query = query.where(ApiRequest.submitted_at >= since)
        with self.engine.begin() as conn:
            return int(conn.execute(query).scalar_one() or 0)

    def charges(self, since: datetime | None = None) -> list[Charge]:
        """The requests the API took (sent since ``since``), with what each cost: charged,
        or the price table's estimate while the API has it (as the budget counts it)."""
        query = (
            select(
                ApiRequest.id, ApiRequest.submitted_at, ApiRequest.options_fp,
                ApiRequest.options_json, ApiRequest.file_count, ApiRequest.folders_json, SPENT,
            )
            .where(ApiRequest.status != SENDING)
            .order_by(ApiRequest.submitted_at)
        )  # fmt: skip
        if since is not None:
            query = query.where(ApiRequest.submitted_at >= since)
        with self.engine.begin() as conn:
            rows = conn.execute(query).all()
        return [
            Charge(
                request_id, sent_at, fp, json.loads(options), files, int(credits or 0),
                json.loads(folders) if folders else None,
            )
            for request_id, sent_at, fp, options, files, folders, credits in rows
        ]  # fmt: skip

    def credits_committed(self, since: datetime | None = None) -> int:
        """Credits that requests sent since ``since`` cost (``committed_since``)."""
        with self.engine.begin() as conn:
            return committed_since(conn, since)

    def last_balance(self) -> int | None:
        with self.engine.begin() as conn:
            return conn.execute(
                select(ApiRequest.credits_balance)
                .where(ApiRequest.credits_balance.is_not(None))
                .order_by(ApiRequest.finished_at.desc())
                .limit(1)
            ).scalar_one_or_none()

    # -- facts shared with `status` --------------------------------------------------------

    def put_state(self, key: str, value: Any) -> None:
        """Given a fact for `status` (e.g. why submissions are paused), store it; None clears."""
        now = self.clock()
        with self.engine.begin() as conn:
            if value is None:
                conn.execute(delete(DaemonState).where(DaemonState.key == key))
                return
            # an upsert: daemons of a fleet may say the same fact at the same moment
            row = {"key": key, "value": json.dumps(value), "updated_at": now}
            upsert = dialect_insert(conn)(DaemonState).values(**row)
            conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=[DaemonState.key],
                    set_={"value": upsert.excluded.value, "updated_at": upsert.excluded.updated_at},
                )
            )

    def pause(self, worker: str, pause: dict[str, Any] | None) -> None:
        """Given why a process's uploads are paused (None: they are not), tell `status`.
        Each process keeps its own: one resuming or starting never clears another's."""
        self.put_state(PAUSED + worker, pause)

    def paused(self) -> Any:
        """Why uploads are paused, as the first paused process says, else as the fleet's
        pause says (None: none is)."""
        with self.engine.begin() as conn:
            raw = conn.execute(
                select(DaemonState.value)
                .where(DaemonState.key.startswith(PAUSED))
                .order_by(DaemonState.key)
                .limit(1)
            ).scalar_one_or_none()
        return json.loads(raw) if raw is not None else self.fleet_paused()

    def fleet_pause(self, pause: dict[str, Any] | None) -> None:
        """Given why every daemon on the table must stop uploading (a rejected key, an empty
        account; None: the reason is gone), tell them all: each checks before it uploads."""
        self.put_state(FLEET_PAUSE, pause)

    def fleet_paused(self) -> Any:
        with self.engine.begin() as conn:
            raw = conn.execute(
                select(DaemonState.value).where(DaemonState.key == FLEET_PAUSE)
            ).scalar_one_or_none()
        return None if raw is None else json.loads(raw)

    def _job_row(self, job: Any) -> JobRow:
        """Given a row of the jobs table, return it as users see it (internal states
        folded, its folder where this process has it)."""
        path = shown(os.path.join(self.path(job.folder), job.relpath))
        return JobRow(
            job.id, path, State(job.state).visible, job.attempts, job.error, job.request_id,
            job.updated_at,
        )  # fmt: skip

    def status(self) -> dict[str, Any]:
        """Return what `status` shows: counts, oldest pending age, spend, pause, errors."""
        now = self.clock()
        oldest = self.oldest_pending()
        return {
            "counts": self.counts(),
            "oldest_pending_seconds": None if oldest is None else (now - oldest).total_seconds(),
            "credits_spent": {
                "total": self.credits_spent(),
                "today": self.credits_spent(local_midnight(now)),
                "last_24h": self.credits_spent(now - timedelta(hours=24)),
                "open": self.credits_spent(open_only=True),  # at the price table's estimate
            },
            "last_balance": self.last_balance(),
            "paused": self.paused(),
            "daemons": Workers(self.engine, self.clock, self.daemon).listed(),
            "recent_errors": [
                {"path": row.path, "state": row.state, "error": row.error}
                for row in self.recent_errors()
            ],
            "backend_errors": self.backend_errors(),
            "price_drift": self.price_drift(),
        }


# what a request the API took costs: what it was charged, or until then the price table's
# estimate (status, costs and the budget all count it so)
SPENT = func.coalesce(ApiRequest.credits_paid, ApiRequest.credits_estimated, 0)
FLEET_PAUSE = "fleet-pause"  # a pause every daemon on the table takes (a key, credits)


def committed_since(conn: Connection, since: datetime | None = None) -> int:
    """Credits that the requests sent since ``since`` (by any daemon) cost: what they were
    charged, or, while outstanding or being sent, what the price table says they will be."""
    query = select(func.coalesce(func.sum(SPENT), 0))
    if since is not None:
        query = query.where(ApiRequest.submitted_at >= since)
    return int(conn.execute(query).scalar_one() or 0)
