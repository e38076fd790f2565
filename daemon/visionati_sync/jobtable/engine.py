"""Engine set-up and schema migrations.

SQLite is the default job table: WAL so readers (``status``) never block the daemon, a busy
timeout, and every writer's transaction opened with ``BEGIN IMMEDIATE`` so that a claim takes
the write lock up front; upgrading a read transaction to a write skips SQLite's busy handler
and fails with "database is locked" under contention. Readers open plain transactions with
``query_only`` set: they never take the write lock and never wait for it.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError, DBAPIError, OperationalError

from ..records import Clock, utcnow
from ..rules.mounts import Mount, network_mount
from .base import serialise

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

BUSY_TIMEOUT = 30.0  # seconds a writer waits for another to finish (database.busy_timeout)
# SQLite's own page cache, per connection. Its default (2 MB) in each pooled connection held
# 7 MB of an idle daemon over 100,000 files: a second copy of pages the kernel caches anyway.
# A rescan and a backfill of copies run as fast with a quarter of it (docs/benchmarks.md).
PAGE_CACHE_KB = 512
EMPTY = "sqlite://"  # what a reader sees where no job table exists yet
# libpq's connection settings, unless the URL gives its own: a server that does not answer
# is given up on after 10 s, and a connection whose server vanished (a failover, a cable)
# is found dead within a minute by TCP keepalives rather than after the kernel's two hours
SERVER_CONNECT = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


class SchemaMismatch(Exception):
    """The job table is at a revision this version does not read; the message says what to
    do."""


@dataclass(frozen=True)
class Trouble:
    """What a database error means for the user: what happened and what to do, and whether
    waiting can help (``passing``: a server away, starting, failing over or read-only, a
    lock held by another program, a full disk)."""

    message: str
    passing: bool
    state: str = ""  # what the database is in, for a passing trouble: said once per change


# PostgreSQL's SQLSTATEs that mean the server cannot serve now (docs, Appendix A): it was
# stopped or crashed (57P01, 57P02), it is starting or shutting down (57P03), it takes no
# more connections (53300), the connection failed (class 08)
AWAY = ("57P01", "57P02", "57P03", "53300")
READ_ONLY = "25006"  # read_only_sql_transaction: a hot standby, or a server set read-only
CONFLICT = ("40001", "40P01")  # serialization failure, deadlock: the transaction is retried


def trouble(exc: BaseException, url: str) -> Trouble | None:
    """Given an error from the job table, what it means; None for one that is not the
    database's own (a bug)."""
    if not isinstance(exc, DBAPIError):
        return None
    text = (str(exc.orig) or type(exc.orig).__name__).splitlines()[0].strip()
    where = _where(url)
    if make_url(url).get_backend_name() != "sqlite":
        return _server_trouble(exc, text, where)
    lowered = text.lower()
    if "not a database" in lowered or "malformed" in lowered:
        return Trouble(
            f"{where}: the job table is damaged ({text}); `visionati-sync db check` says "
            "more. Restore it from a backup, or move it away to start a new one (files "
            "tagged before are then tagged, and paid for, again)",
            passing=False,
        )
    if "readonly" in lowered or "read-only" in lowered:
        return Trouble(
            f"{where}: the job table is read-only to this user; make it and its folder "
            "writable, or point database.url elsewhere",
            passing=False,
        )
    if "locked" in lowered:
        return Trouble(
            f"{where}: the job table is locked by another program ({text})", True, "locked"
        )
    if "full" in lowered:
        return Trouble(f"{where}: the disk holding the job table is full ({text})", True, "full")
    if "unable to open" in lowered:
        return Trouble(
            f"{where}: cannot open the job table ({text}): does its folder exist, and may "
            "this user write there?",
            passing=False,
        )
    return None


def _server_trouble(exc: DBAPIError, text: str, where: str) -> Trouble | None:
    """A database server's error: one that waiting helps (the server away, starting up,
    shutting down, failing over, read-only, unreachable), or None."""
    state = str(getattr(exc.orig, "sqlstate", None) or "")
    unreachable = exc.connection_invalidated or (
        not state and type(exc.orig).__name__ in ("OperationalError", "InterfaceError")
    )
    if unreachable or state.startswith("08") or state in AWAY:
        return Trouble(f"{where}: the database cannot be reached ({text})", True, "unreachable")
    if state == READ_ONLY:
        return Trouble(
            f"{where}: the database takes no writes ({text}): a standby, or a server in "
            "recovery; waiting for it to become the primary",
            passing=True,
            state="read-only",
        )
    if state in CONFLICT:
        return Trouble(f"{where}: a transaction met another daemon's ({text})", True, "conflict")
    return None


def _where(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return parsed.database
    return parsed.render_as_string(hide_password=True)


def make_engine(url: str, *, readonly: bool = False, busy_timeout: float = BUSY_TIMEOUT) -> Engine:
    """Given a SQLAlchemy URL, return an engine configured for a shared job table."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":  # readers there take no write locks
        given = set(parsed.query)
        connect = {k: v for k, v in SERVER_CONNECT.items() if k not in given}
        return create_engine(url, pool_pre_ping=True, connect_args=connect)
    if parsed.database and parsed.database != ":memory:" and not readonly:
        refuse_share(Path(parsed.database).expanduser())
        _create_private(Path(parsed.database).expanduser())
    engine = create_engine(url, connect_args={"timeout": busy_timeout})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        if readonly:
            cursor.execute("PRAGMA query_only=ON")
        # WAL is a property of the file: switch once, and never contend for it afterwards
        elif cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def open_readonly(url: str, busy_timeout: float = BUSY_TIMEOUT) -> Engine:
    """Given a URL, an engine for reading the job table as it is: never created, never
    migrated. Raises SchemaMismatch when it is at another revision than this version's."""
    parsed = make_url(url)
    database = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if database and database != ":memory:" and not Path(database).expanduser().exists():
        _folder_of(database)  # a folder that cannot be is an error, one not made yet is not
        return _empty()
    engine = make_engine(url, readonly=True, busy_timeout=busy_timeout)
    try:
        revision = current_revision(engine)
    except OperationalError as exc:
        if not database or "readonly" not in str(exc):
            raise
        # a file this user may read but not lock (a read-only folder, another user's
        # daemon): read it as it stands, without the locks SQLite would need to write
        engine.dispose()
        engine = make_engine(_immutable(database), readonly=True, busy_timeout=busy_timeout)
        revision = current_revision(engine)
    if revision == _migrations().HEAD:
        return engine
    engine.dispose()
    if revision is None:
        return _empty()
    raise SchemaMismatch(
        f"the job table is at revision {revision} and this version of visionati-sync reads "
        f"{_migrations().HEAD}: run `visionati-sync db upgrade` (or start the daemon), with "
        "no older daemon still running on it"
    )


def integrity(url: str) -> list[str]:
    """Given the job table's URL, the problems SQLite's integrity check finds in it (none:
    an empty list). Other databases check themselves."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return []
    if parsed.database and not Path(parsed.database).expanduser().exists():
        return [f"{parsed.database}: no job table there yet"]
    engine = make_engine(url, readonly=True)
    try:
        with engine.connect() as conn:
            found = [str(row[0]) for row in conn.exec_driver_sql("PRAGMA integrity_check")]
    except DatabaseError as exc:
        return [f"{_where(url)}: {exc.orig}"]
    finally:
        engine.dispose()
    return [] if found == ["ok"] else found


def _immutable(database: str) -> str:
    path = Path(database).expanduser().resolve()
    return f"sqlite:///file:{quote(str(path))}?mode=ro&immutable=1&uri=true"


def sqlite_file(url: str) -> Path | None:
    """Given a URL, the SQLite file it names (None: another database, or in memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser()


def refuse_share(database: Path, mounts: Sequence[Mount] | None = None) -> None:
    """SQLite's locking is not safe on a network filesystem (SQLite's FAQ): two daemons, or
    a daemon and the share's server, can corrupt the table. Raises OSError saying so."""
    share = network_mount(str(_folder_of(str(database))), mounts)
    if share is not None:
        raise OSError(
            errno.EREMOTE,
            f"the job table {database} would be on a network filesystem ({share.fstype}, "
            f"{share.source}), where SQLite's locking is not safe: put it on a local disk, "
            'or use PostgreSQL (README "Several machines")',
        )


def _folder_of(database: str) -> Path:
    """Given a SQLite file's path, its folder; raises NotADirectoryError when a file stands
    where a folder on the way to it should be."""
    folder = Path(database).expanduser().parent
    for place in (folder, *folder.parents):
        if place.exists():
            if not place.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(place))
            break
    return folder


def _create_private(database: Path) -> None:
    """The job table names every photo and holds every description: a new one, and a folder
    made for it, are private to this user (SQLite gives its -wal and -shm files the
    database's own mode)."""
    folder = _folder_of(str(database))
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
    if not database.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(database, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _empty() -> Engine:
    """A private, empty job table in memory, made by the same migrations."""
    engine = make_engine(EMPTY)
    upgrade(engine)
    return engine


def _migrations() -> Any:
    return importlib.import_module("visionati_sync.migrations")


def migrations_directory() -> str:
    """Where the migration scripts are, in a checkout or an installed wheel alike."""
    return str(Path(_migrations().__file__ or "").parent)


def _alembic_config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", migrations_directory())
    return cfg


def upgrade(engine: Engine) -> None:
    """Given an engine, bring its schema to the newest migration (a no-op when current).
    Daemons that start together on an empty database migrate it once: each takes a lock
    first (SQLite's write lock, PostgreSQL's advisory lock), and Alembic, inside it, finds
    the work done by the first."""
    if current_revision(engine) == _migrations().HEAD:
        return  # the usual case: no need to load Alembic at all
    from alembic import command

    cfg = _alembic_config()
    with engine.begin() as connection:
        serialise(connection, "migrating")
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


class DatabaseClock:
    """The database server's clock, as seen from here: a fleet judges its leases by one
    clock, whatever each machine's says. Read again every minute; between, the machine's
    clock plus the difference."""

    REREAD = 60.0

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._offset = timedelta(0)
        self._read_at: float | None = None

    def __call__(self) -> datetime:
        ticks = time.monotonic()
        if self._read_at is None or ticks - self._read_at > self.REREAD:
            with self.engine.connect() as connection:
                before = datetime.now(UTC)
                server = connection.execute(text("SELECT now()")).scalar_one()
                after = datetime.now(UTC)
            self._offset = server - (before + (after - before) / 2)
            self._read_at = ticks
        return datetime.now(UTC) + self._offset


def clock_for(engine: Engine) -> Clock:
    """Given an engine, the clock its leases go by: the server's, or on SQLite (one
    machine) this machine's."""
    if engine.dialect.name == "postgresql":
        return DatabaseClock(engine)
    return utcnow


def server_uptime(engine: Engine) -> float | None:
    """Given an engine, how long its database server has run, in seconds (None: SQLite,
    a file, not a server). After a restart (an upgrade, a failover) every daemon's leases
    have lapsed at once: none may take another's work back before it had a lease to renew."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as connection:
        up = connection.execute(
            text("SELECT extract(epoch FROM now() - pg_postmaster_start_time())")
        ).scalar_one()
    return float(up)


def current_revision(engine: Engine) -> str | None:
    """Given an engine, the revision its schema is at (None: no schema yet). A database that
    cannot be read (locked, unreachable) raises, rather than passing for an empty one."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
