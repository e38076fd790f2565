"""Engine set-up and schema migrations.

SQLite is the default job table: WAL so readers (``status``) never block the daemon, a busy
timeout, and every writer's transaction opened with ``BEGIN IMMEDIATE`` so that a claim takes
the write lock up front; upgrading a read transaction to a write skips SQLite's busy handler
and fails with "database is locked" under contention. Readers open plain transactions with
``query_only`` set: they never take the write lock and never wait for it.
"""

from __future__ import annotations

import errno
import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

BUSY_TIMEOUT_MS = 30_000
EMPTY = "sqlite://"  # what a reader sees where no job table exists yet


class SchemaMismatch(Exception):
    """The job table is at a revision this version does not read; the message says what to
    do."""


def make_engine(url: str, *, readonly: bool = False) -> Engine:
    """Given a SQLAlchemy URL, return an engine configured for a shared job table."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)  # readers there take no write locks
    if parsed.database and parsed.database != ":memory:" and not readonly:
        folder = _folder_of(parsed.database)
        folder.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if readonly:
            cursor.execute("PRAGMA query_only=ON")
        # WAL is a property of the file: switch once, and never contend for it afterwards
        elif cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def open_readonly(url: str) -> Engine:
    """Given a URL, an engine for reading the job table as it is: never created, never
    migrated. Raises SchemaMismatch when it is at another revision than this version's."""
    parsed = make_url(url)
    database = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if database and database != ":memory:" and not Path(database).expanduser().exists():
        _folder_of(database)  # a folder that cannot be is an error, one not made yet is not
        return _empty()
    engine = make_engine(url, readonly=True)
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
    """Given an engine, bring its schema to the newest migration (a no-op when current)."""
    if current_revision(engine) == _migrations().HEAD:
        return  # the usual case: no need to load Alembic at all
    from alembic import command

    cfg = _alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def current_revision(engine: Engine) -> str | None:
    """Given an engine, the revision its schema is at (None: no schema yet). A database that
    cannot be read (locked, unreachable) raises, rather than passing for an empty one."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
