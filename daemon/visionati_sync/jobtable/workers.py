"""Workers: the daemons and scans running on the job table, each one process start known by
a random id (``workers.Worker``), alive while its heartbeat lease is ahead of the database's
clock. The daemon's ``leases`` stage beats; `status` lists them; a worker whose lease has
lapsed is gone, and its work is anyone's (``Claims.give_back``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select, update

from ..workers import Worker
from .base import TablePart
from .reports import PAUSED
from .schema import DaemonState, WorkerLease


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
