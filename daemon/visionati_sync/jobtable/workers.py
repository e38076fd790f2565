"""Workers: the daemons and scans running on the job table, each one process start known by
a random id (``workers.Worker``), alive while its heartbeat lease is ahead of the database's
clock. The daemon's ``leases`` stage beats; `status` lists them; a worker whose lease has
lapsed is gone, and its work is anyone's (``Claims.give_back``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from ..records import State
from ..workers import Worker
from .base import TablePart
from .schema import OUTSTANDING, PAUSED, ApiRequest, DaemonState, Job, WorkerLease


class Workers(TablePart):
    def beat(self, worker: Worker, kind: str, since: datetime) -> None:
        """Given this process, say it is alive for another lease. A row another daemon
        removed (it judged this one gone during an outage) is written again."""
        now = self.clock()
        values = {"heard_at": now, "lease_until": self.lease_end(now)}
        with self.engine.begin() as conn:
            renewed = conn.execute(
                update(WorkerLease).where(WorkerLease.id == worker.id).values(**values)
            ).rowcount
            if not renewed:
                conn.execute(
                    insert(WorkerLease).values(
                        id=worker.id, host=worker.host, pid=worker.pid, kind=kind,
                        started_at=since, **values,
                    )
                )  # fmt: skip

    def lapsed(self) -> list[str]:
        """The workers whose heartbeat lease has lapsed: gone, or cut off from the table
        for longer than a lease."""
        with self.engine.begin() as conn:
            return list(
                conn.execute(
                    select(WorkerLease.id).where(WorkerLease.lease_until < self.clock())
                ).scalars()
            )

    def forget(self, ids: list[str]) -> None:
        """Given workers that are gone, forget them, and why their uploads were paused."""
        if not ids:
            return
        with self.engine.begin() as conn:
            conn.execute(delete(WorkerLease).where(WorkerLease.id.in_(ids)))
            conn.execute(delete(DaemonState).where(DaemonState.key.in_([PAUSED + i for i in ids])))

    def listed(self) -> list[dict[str, Any]]:
        """The daemons and scans that said they run (``workers``): whether their heartbeat
        lease is live, how long since each last beat, and what each holds (requests with
        the API it sent, files it is uploading)."""
        now = self.clock()
        with self.engine.begin() as conn:
            workers = conn.execute(select(WorkerLease).order_by(WorkerLease.started_at)).all()
            requests = dict(
                conn.execute(
                    select(ApiRequest.sent_by, func.count())
                    .where(ApiRequest.status.in_(OUTSTANDING))
                    .group_by(ApiRequest.sent_by)
                ).all()
            )
            claimed = dict(
                conn.execute(
                    select(Job.locked_by, func.count())
                    .where(Job.state == State.CLAIMED)
                    .group_by(Job.locked_by)
                ).all()
            )
        return [
            {
                "worker": w.id, "host": w.host, "pid": w.pid, "kind": w.kind,
                "since": w.started_at.isoformat(), "alive": w.lease_until >= now,
                "last_heard_seconds": round((now - w.heard_at).total_seconds(), 1),
                "requests_in_flight": requests.get(w.id, 0),
                "files_claimed": claimed.get(w.id, 0),
            }
            for w in workers
        ]  # fmt: skip
