"""The job table's schema. Alembic migrations in migrations/ create and upgrade it; a test
checks that the migrations' head and these models never drift apart."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)

Col = ColumnElement  # a column as statements use it (Column's own typing is the ORM's)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite silently drops offsets otherwise."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the job table; use UTC-aware times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


class FsPath(TypeDecorator[str]):
    """A path as the filesystem holds it: bytes in the table, ``str`` in Python with any
    byte that is not UTF-8 carried as a surrogate (as ``os`` gives it), so that every name
    round-trips exactly, however odd."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        return None if value is None else os.fsencode(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else os.fsdecode(bytes(value))


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base:
    """A table declared as a class, as SQLAlchemy's declarative models read, without the ORM
    (which would cost every command 6 MB and a tenth of its start-up for features the job
    table never uses): each ``Column`` attribute is the table's own column (``Job.state``),
    ``__table__`` the table, and the class itself stands for the table in a statement
    (``select(Job)``, ``update(Job)``)."""

    metadata: ClassVar[MetaData] = MetaData(naming_convention=NAMING)
    __tablename__: ClassVar[str]
    __table__: ClassVar[Table]
    __table_args__: ClassVar[tuple[Any, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        columns: list[Column[Any]] = []
        for name, value in vars(cls).items():
            if isinstance(value, Column):
                value.name = value.key = name  # as declared, unnamed: named for its attribute
                columns.append(value)
        args = cls.__table_args__
        options = args[-1] if args and isinstance(args[-1], dict) else {}
        constraints = args[:-1] if options else args
        cls.__table__ = Table(cls.__tablename__, cls.metadata, *columns, *constraints, **options)

    @classmethod
    def __clause_element__(cls) -> Table:
        return cls.__table__


# a request's status: ``sending`` (a reservation, while it is uploaded), ``queued`` and
# ``processing`` (outstanding: the API holds it), ``completed``, ``failed``, ``lost``
SENDING = "sending"
OUTSTANDING = ("queued", "processing")


class ApiRequest(Base):
    """One `POST /api/fetch` the API accepted; followed by the poller until it ends."""

    __tablename__ = "api_requests"

    id: Col[str] = Column(String(64), primary_key=True)  # the API's request_id
    response_uri: Col[str | None] = Column(String(2048))
    status: Col[str] = Column(String(16), nullable=False)  # SENDING, OUTSTANDING, or how it ended
    options_fp: Col[str] = Column(String(16), nullable=False)
    options_json: Col[str] = Column(Text, nullable=False)
    file_count: Col[int] = Column(Integer, nullable=False)
    submitted_at: Col[datetime] = Column(UTCDateTime, nullable=False)
    next_poll_at: Col[datetime] = Column(UTCDateTime, nullable=False)
    last_polled_at: Col[datetime | None] = Column(UTCDateTime)
    finished_at: Col[datetime | None] = Column(UTCDateTime)
    poll_failures: Col[int] = Column(Integer, default=0, nullable=False)
    credits_paid: Col[int | None] = Column(Integer)
    credits_estimated: Col[int | None] = Column(Integer)  # price table, at upload
    credits_balance: Col[int | None] = Column(Integer)
    error: Col[str | None] = Column(Text)
    sent_by: Col[str | None] = Column(String(255))  # the daemon whose cap it counts in
    # the daemon polling it now, until next_poll_at (a lease: anyone's once it lapses)
    polled_by: Col[str | None] = Column(String(255))
    folders_json: Col[str | None] = Column(Text)  # folder name → files sent (costs)

    __table_args__ = (Index("ix_api_requests_status_next_poll_at", "status", "next_poll_at"),)


class Result(Base):
    """What the API said about one file's bytes under one set of options: paid for once.
    ``sha256`` is the content key (the file's hash, with how it was converted to be sent)."""

    __tablename__ = "results"

    id: Col[int] = Column(Integer, primary_key=True)
    sha256: Col[str] = Column(String(64), nullable=False)
    options_fp: Col[str] = Column(String(16), nullable=False)
    request_id: Col[str] = Column(String(64), nullable=False)
    tagged_at: Col[datetime] = Column(UTCDateTime, nullable=False)
    options_json: Col[str] = Column(Text, nullable=False)
    asset_json: Col[str] = Column(Text, nullable=False)
    errors_json: Col[str | None] = Column(Text)  # per-backend failures (all.errors)

    __table_args__ = (UniqueConstraint("sha256", "options_fp"),)


HAS_ERROR = text("error IS NOT NULL")


class Job(Base):
    """One file in a watched folder, identified by its folder and its path inside it."""

    __tablename__ = "jobs"

    id: Col[int] = Column(Integer, primary_key=True)
    folder: Col[str] = Column(FsPath, nullable=False)
    relpath: Col[str] = Column(FsPath, nullable=False)
    state: Col[str] = Column(String(16), nullable=False)
    size: Col[int] = Column(BigInteger, nullable=False)
    mtime_ns: Col[int] = Column(BigInteger, nullable=False)
    # the content key its result is stored under: the file's hash, with how it was converted
    sha256: Col[str | None] = Column(String(64))
    file_sha256: Col[str | None] = Column(String(64))  # the file's own (None: = sha256)
    sent_json: Col[str | None] = Column(Text)  # what went: original, converted, …
    upload_name: Col[str | None] = Column(Text)  # one per line (frames)
    request_id: Col[str | None] = Column(String(64), ForeignKey("api_requests.id"))
    result_id: Col[int | None] = Column(Integer, ForeignKey("results.id"))
    attempts: Col[int] = Column(Integer, default=0, nullable=False)  # the API's failures for it
    write_attempts: Col[int] = Column(Integer, default=0, server_default="0", nullable=False)
    faults: Col[int] = Column(Integer, default=0, server_default="0", nullable=False)  # in a row
    batch_limit: Col[int | None] = Column(Integer)  # since a batch of it failed
    error: Col[str | None] = Column(Text)
    locked_by: Col[str | None] = Column(String(255))
    locked_at: Col[datetime | None] = Column(UTCDateTime)
    next_attempt_at: Col[datetime] = Column(UTCDateTime, nullable=False)
    created_at: Col[datetime] = Column(UTCDateTime, nullable=False)
    updated_at: Col[datetime] = Column(UTCDateTime, nullable=False)
    done_at: Col[datetime | None] = Column(UTCDateTime)
    # the user applied its result: written even where results wait for review
    approved: Col[bool] = Column(Boolean, default=False, server_default=false(), nullable=False)
    # the user asked for a fresh answer: its next upload goes past the results cache
    refresh: Col[bool] = Column(Boolean, default=False, server_default=false(), nullable=False)

    __table_args__ = (
        UniqueConstraint("folder", "relpath"),
        Index("ix_jobs_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_jobs_request_id", "request_id"),
        Index("ix_jobs_sha256", "sha256"),
        # `status` at a million files: the oldest of a state, the latest errors
        Index("ix_jobs_state_created_at", "state", "created_at"),
        Index(
            "ix_jobs_errors_updated_at",
            "updated_at",
            sqlite_where=HAS_ERROR,
            postgresql_where=HAS_ERROR,
        ),
        {"sqlite_autoincrement": True},  # a job id (given to `retry`) never names another file
    )


PAUSED = "paused:"  # + a worker's id: a daemon_state key, why that process's uploads are paused


class DaemonState(Base):
    """Small facts the daemon shares with `status` in other processes (why it is paused)."""

    __tablename__ = "daemon_state"

    key: Col[str] = Column(String(64), primary_key=True)
    value: Col[str] = Column(Text, nullable=False)
    updated_at: Col[datetime] = Column(UTCDateTime, nullable=False)


class WorkerLease(Base):
    """A running daemon or scan (a worker: one process start, by a random id) and its
    heartbeat lease: alive while ``lease_until`` (the database's clock) is ahead, renewed
    every third of ``database.lease_seconds``. Host and pid are for people only."""

    __tablename__ = "workers"

    id: Col[str] = Column(String(64), primary_key=True)
    host: Col[str] = Column(String(255), nullable=False)
    pid: Col[int] = Column(Integer, nullable=False)
    kind: Col[str] = Column(String(16), nullable=False)  # run or scan
    started_at: Col[datetime] = Column(UTCDateTime, nullable=False)
    heard_at: Col[datetime] = Column(UTCDateTime, nullable=False)
    lease_until: Col[datetime] = Column(UTCDateTime, nullable=False)


class Review(Base):
    """A reviewer's decision on one waiting result (``sidecars.apply: review``): accepted
    with the keywords kept (their paths, ``A|B``) and the description as edited, or
    rejected; who decided and when. Kept after the sidecars are written: it is the record of
    what the user approved, and the counts of each keyword's acceptance come from it."""

    __tablename__ = "reviews"

    job_id: Col[int] = Column(Integer, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    decision: Col[str] = Column(String(8), nullable=False)  # accept or reject
    proposed_json: Col[str] = Column(Text, nullable=False)  # the keywords shown
    kept_json: Col[str] = Column(Text, nullable=False)  # of those, the ones approved
    description: Col[str | None] = Column(Text)  # as approved (None: none)
    decided_by: Col[str] = Column(String(255), nullable=False)
    decided_at: Col[datetime] = Column(UTCDateTime, nullable=False)
