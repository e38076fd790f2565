"""What every part of the job table shares: the engine, the clock, who this daemon is (its
worker id, how long its claims last, what its stages hold now), the folders' names, the
filter that narrows a query to the folders (or sub-paths) of a scan, and the lock that
serialises a fleet's spending."""

from __future__ import annotations

import contextlib
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    false,
    or_,
    select,
    text,
    true,
    update,
)

from ..records import Clock, FolderNames, Scope, State, utcnow
from ..workers import Worker
from .schema import OUTSTANDING, SENDING, ApiRequest, Job

LEASE_SECONDS = 60.0  # database.lease_seconds: how long a claim lasts without renewal
LOST_SENDING = (
    "its daemon stopped before the API answered; its files are sent again, and its estimate "
    "stays counted against the budget"
)


class Holding:
    """What one step of a stage took, by id: jobs (claims, sidecar writes) and requests
    (polls, a reservation). The step adds what it takes; ``Held`` renews it while the step
    runs."""

    def __init__(self) -> None:
        self.jobs: set[int] = set()
        self.requests: set[str] = set()

    def take(self, *, jobs: Iterable[int] = (), requests: Iterable[str] = ()) -> None:
        self.jobs.update(jobs)
        self.requests.update(requests)


class Held:
    """What this process's stages work on now: the only leases renewal extends. A step
    holds what it took for as long as it runs; what a step leaves behind (it failed, and
    could not give it back) is no longer renewed, and lapses for any daemon to take back,
    rather than being held for as long as the process lives."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._steps: set[Holding] = set()
        self._abandoned = Holding()  # what failed steps could not give back (the table away)

    def begin(self) -> Holding:
        holding = Holding()
        with self._lock:
            self._steps.add(holding)
        return holding

    def end(self, holding: Holding) -> None:
        with self._lock:
            self._steps.discard(holding)

    def abandon(self, holding: Holding) -> None:
        """A step failed and could not give back what it held: give it back later."""
        with self._lock:
            self._abandoned.take(jobs=holding.jobs, requests=holding.requests)

    def abandoned(self) -> Holding:
        """What failed steps could not give back, taken from the list (to give back now)."""
        with self._lock:
            found, self._abandoned = self._abandoned, Holding()
        return found

    def now(self) -> tuple[list[int], list[str]]:
        """The jobs and requests held now, by any stage."""
        with self._lock:
            jobs = set().union(*(holding.jobs for holding in self._steps))
            requests = set().union(*(holding.requests for holding in self._steps))
        return sorted(jobs), sorted(requests)


@dataclass
class Daemon:
    """This process as the job table knows it: the worker its claims name, how long they
    last unless renewed, the names of the folders it watches, and what its stages hold
    now. One, shared by every part."""

    worker: Worker = field(default_factory=Worker)
    lease_seconds: float = LEASE_SECONDS
    folders: FolderNames = field(default_factory=FolderNames)
    held: Held = field(default_factory=Held)

    @property
    def name(self) -> str:
        """What its claims carry: the worker's id."""
        return self.worker.id


class TablePart:
    """One idea of the job table (the queue, the requests, …) over a shared engine. Each
    public method is one transaction."""

    def __init__(self, engine: Engine, clock: Clock = utcnow, daemon: Daemon | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.daemon = daemon or Daemon()

    @property
    def worker(self) -> str:
        return self.daemon.name

    @worker.setter
    def worker(self, name: str) -> None:
        self.daemon.worker = Worker(id=name)

    @contextlib.contextmanager
    def holding(self) -> Iterator[Holding]:
        """One step of a stage: what it takes (``Holding.take``) is renewed while the step
        runs, and no longer once it ends. A step that fails gives back at once what it
        still holds (a claim to the queue, a write or a poll due again, a reservation whose
        upload may have gone written off); if the table cannot be reached for that either,
        it lapses, for any daemon to take back, unless this daemon gives it back first
        (``give_back_abandoned``, once the table is back)."""
        holding = self.daemon.held.begin()
        try:
            yield holding
        except BaseException:
            try:
                self._give_back_held(sorted(holding.jobs), sorted(holding.requests))
            except Exception:  # the table away: given back when it is back
                self.daemon.held.abandon(holding)
            raise
        finally:
            self.daemon.held.end(holding)

    def give_back_abandoned(self) -> None:
        """Give back what failed steps could not (the table was away): at once, rather than
        when it lapses and another daemon's grace after the outage has passed. Only what
        still names this daemon moves."""
        abandoned = self.daemon.held.abandoned()
        if not (abandoned.jobs or abandoned.requests):
            return
        try:
            self._give_back_held(sorted(abandoned.jobs), sorted(abandoned.requests))
        except Exception:
            self.daemon.held.abandon(abandoned)
            raise

    def _give_back_held(self, jobs: list[int], requests: list[str]) -> None:
        from . import transitions as t

        now = self.clock()
        with self.engine.begin() as conn:
            mine = (Job.id.in_(jobs), Job.locked_by == self.worker)
            t.apply(conn, t.RELEASE, t.pending(now), *mine)
            polled = and_(ApiRequest.id.in_(requests), ApiRequest.polled_by == self.worker)
            let_go(conn, now, and_(*mine), polled, sending=polled)

    def lease_end(self, now: datetime) -> datetime:
        """Given the time, when a claim taken or renewed now lapses."""
        return now + timedelta(seconds=self.daemon.lease_seconds)

    def name(self, folder: str) -> str:
        """Given a folder's local path, its name in the table."""
        return self.daemon.folders.name(folder)

    def path(self, name: str) -> str:
        """Given a folder's name in the table, where this daemon has it."""
        return self.daemon.folders.path(name)

    def in_scopes(self, scopes: Sequence[Scope] | None) -> ColumnElement[bool]:
        """Given the scopes of a scan, the jobs inside them: none at all for an empty list
        (a command told of no folder acts on nothing), every job for None (what `status`
        reports; nothing that acts passes it)."""
        if scopes is None:
            return true()
        if not scopes:
            return false()
        return or_(*(self._in_scope(scope) for scope in scopes))

    def _in_scope(self, scope: Scope) -> ColumnElement[bool]:
        folder = Job.folder == self.name(scope.folder)
        if not scope.prefix:
            return folder
        prefix = scope.prefix.rstrip("/")
        # paths are bytes: byte order, whatever the database's collation
        below = and_(Job.relpath >= f"{prefix}/", Job.relpath < f"{prefix}0")  # "0" follows "/"
        return and_(folder, or_(Job.relpath == prefix, below))


def free(key: ColumnElement[Any], *where: ColumnElement[bool]) -> ColumnElement[bool]:
    """Given a table's key and a filter, the rows it selects that no other transaction holds
    now (PostgreSQL's ``SKIP LOCKED``; SQLite has one writer at a time). A statement that
    sweeps many rows (renewing leases, taking back lapsed ones) passes over rows another
    transaction is changing rather than wait for them, and so never deadlocks with it: the
    same daemon's submitter holds its claims while it records a request, and that request's
    reservation."""
    return key.in_(select(key).where(*where).with_for_update(skip_locked=True).scalar_subquery())


def let_go(
    conn: Connection,
    now: datetime,
    jobs: ColumnElement[bool],
    polls: ColumnElement[bool],
    *,
    sending: ColumnElement[bool] | None = None,
) -> None:
    """Given which sidecar writes and polls a daemon lets go of (and which requests it was
    sending), make them anyone's now: writes and polls due at once, a request being sent
    written off (``write_off``)."""
    conn.execute(
        update(Job)
        .where(Job.state == State.WRITING, jobs)
        .values(locked_by=None, locked_at=None, next_attempt_at=now)
    )
    conn.execute(
        update(ApiRequest)
        .where(ApiRequest.status.in_(OUTSTANDING), polls)
        .values(polled_by=None, next_poll_at=now)
    )
    if sending is not None:
        write_off(conn, now, sending)


def write_off(conn: Connection, now: datetime, where: ColumnElement[bool]) -> None:
    """Given requests being sent that no daemon will finish sending: the API may have taken
    them (and their credits), but nobody knows their ids, so they end ``lost`` and their
    estimates stay counted against the budget (a daemon's journal records one the API
    answered)."""
    conn.execute(
        update(ApiRequest)
        .where(ApiRequest.status == SENDING, where)
        .values(status="lost", finished_at=now, polled_by=None, error=LOST_SENDING)
    )


def dialect_insert(conn: Connection) -> Any:
    """The INSERT that can say ON CONFLICT, in this database's dialect."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def insert_missing(
    conn: Connection, model: Any, keys: Sequence[ColumnElement[Any]], rows: list[Any]
) -> None:
    """Given rows and the unique key they are told apart by, insert those another daemon has
    not inserted meanwhile (daemons of a fleet find the same new files and store the same
    results at the same moment). Rows go in key order, as every daemon's do, so two that
    insert overlapping rows wait for each other rather than deadlock."""
    names = [key.key for key in keys]
    rows = sorted(rows, key=lambda row: tuple(row[name] for name in names))
    conn.execute(dialect_insert(conn)(model).on_conflict_do_nothing(index_elements=keys), rows)


def serialise(conn: Connection, what: str) -> None:
    """Given a transaction, hold a lock named ``what`` until it ends, across every daemon on
    the table: PostgreSQL's advisory lock; SQLite's writers are one at a time already."""
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(f"visionati-sync:{what}".encode())
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
