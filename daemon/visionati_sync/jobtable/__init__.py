"""The job table: one row per file, the requests sent to the API, the results they brought,
and a few facts for `status`. SQLite by default, any SQLAlchemy URL; its schema is made only
by the Alembic migrations in ``migrations/``.

It is used through five parts, each owning one idea and each method one transaction:

- ``queue`` (``FileQueue``): files entering, changing, moving, leaving;
- ``claims`` (``Claims``): workers taking files to upload, and what they give back;
- ``requests`` (``Requests``): requests sent, polled and ended; the results cache;
- ``writes`` (``Writes``): results whose sidecars are still to be written;
- ``reports`` (``Reports``): counts, errors, credits and the pause state, read by `status`.

Every state change of a job goes through ``transitions``, the state machine.
"""

from __future__ import annotations

from sqlalchemy import Engine

from ..records import Clock, utcnow
from . import engine as engines
from .claims import Claims
from .queue import FileQueue
from .reports import Reports
from .requests import Requests
from .writes import Writes

__all__ = ["Claims", "FileQueue", "JobTable", "Reports", "Requests", "Writes"]


class JobTable:
    """Given an engine whose schema is current, the job table's parts over it."""

    def __init__(self, engine: Engine, worker: str | None = None, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.queue = FileQueue(engine, clock)
        self.claims = Claims(engine, worker, clock)
        self.requests = Requests(engine, clock)
        self.writes = Writes(engine, clock)
        self.reports = Reports(engine, clock)

    @classmethod
    def open(
        cls,
        url: str,
        *,
        readonly: bool = False,
        clock: Clock = utcnow,
        busy_timeout: float = engines.BUSY_TIMEOUT,
    ) -> JobTable:
        """Given a database URL, open the job table.

        To write (the daemon, `scan`, `retry`), the schema is brought to the newest migration
        first. To read (`status`, `jobs`, `estimate`), nothing is migrated and no write lock is
        taken: a job table that does not exist yet reads as an empty one, and one at another
        revision is an error (``engines.SchemaMismatch``) rather than upgraded under a daemon
        that may still be running the older version.
        """
        if not readonly:
            engine = engines.make_engine(url, busy_timeout=busy_timeout)
            engines.upgrade(engine)
            return cls(engine, clock=clock)
        return cls(engines.open_readonly(url, busy_timeout), clock=clock)

    def close(self) -> None:
        self.engine.dispose()
