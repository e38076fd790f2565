"""The job table: one row per file, the requests sent to the API, the results they brought,
and a few facts for `status`. SQLite by default, any SQLAlchemy URL; its schema is made only
by the Alembic migrations in ``migrations/``.

It is used through five parts, each owning one idea and each method one transaction:

- ``queue`` (``FileQueue``): files entering, changing, moving, leaving;
- ``claims`` (``Claims``): workers taking files to upload, and what they give back;
- ``spending`` (``Spending``): a request's credits reserved before it goes;
- ``requests`` (``Requests``): requests the API took, and the copies riding on them;
- ``polls`` (``Polls``): following each request until it ends, and what its answer brings;
- ``results`` (``Results``): the results cache;
- ``writes`` (``Writes``): results whose sidecars are still to be written;
- ``reports`` (``Reports``): counts, errors, credits and the pause state, read by `status`;
- ``workers`` (``Workers``): the daemons running on it, each alive while its heartbeat lease
  is.

Every state change of a job goes through ``transitions``, the state machine.

Several daemons may share one table (PostgreSQL; see README "Several machines"): what one
takes — files to upload (``claimed``), sidecars to write, a request to poll — it holds for
``database.lease_seconds``, by the database's clock, renewing while a step works on it
(``TablePart.holding``, ``Claims.renew``); any daemon takes back what lapsed. A daemon that
finds its claim taken leaves the work, writing nothing.
"""

from __future__ import annotations

from sqlalchemy import Engine

from ..records import Clock, FolderNames
from ..workers import Worker
from . import engine as engines
from .base import LEASE_SECONDS, Daemon, Holding
from .claims import Claims
from .polls import Polls
from .queue import FileQueue
from .reports import Reports
from .requests import Requests
from .results import Results
from .reviews import Reviews
from .spending import Spending
from .workers import Workers
from .writes import Writes

__all__ = [
    "Claims", "FileQueue", "Holding", "JobTable", "Polls", "Reports", "Requests", "Results",
    "Reviews", "Spending", "Workers", "Writes",
]  # fmt: skip


class JobTable:
    """Given an engine whose schema is current, the job table's parts over it."""

    def __init__(
        self,
        engine: Engine,
        worker: Worker | str | None = None,
        clock: Clock | None = None,
        *,
        lease_seconds: float = LEASE_SECONDS,
        folders: FolderNames | None = None,
    ) -> None:
        self.engine = engine
        if not isinstance(worker, Worker):
            worker = Worker() if worker is None else Worker(id=worker)
        self.daemon = Daemon(worker, lease_seconds, folders or FolderNames())
        clock = clock or engines.clock_for(engine)
        self.queue = FileQueue(engine, clock, self.daemon)
        self.claims = Claims(engine, clock, self.daemon)
        self.spending = Spending(engine, clock, self.daemon)
        self.requests = Requests(engine, clock, self.daemon)
        self.polls = Polls(engine, clock, self.daemon)
        self.results = Results(engine, clock, self.daemon)
        self.writes = Writes(engine, clock, self.daemon)
        self.reports = Reports(engine, clock, self.daemon)
        self.workers = Workers(engine, clock, self.daemon)
        self.reviews = Reviews(engine, clock, self.daemon)

    @property
    def worker(self) -> str:
        """The id this process's claims carry."""
        return self.daemon.name

    @classmethod
    def open(
        cls,
        url: str,
        *,
        readonly: bool = False,
        worker: Worker | str | None = None,
        clock: Clock | None = None,
        busy_timeout: float = engines.BUSY_TIMEOUT,
        lease_seconds: float = LEASE_SECONDS,
        folders: FolderNames | None = None,
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
        else:
            engine = engines.open_readonly(url, busy_timeout)
        return cls(engine, worker, clock, lease_seconds=lease_seconds, folders=folders)

    def close(self) -> None:
        self.engine.dispose()
