"""The job table's schema. Alembic migrations in migrations/ create and upgrade it; a test
checks that the migrations' head and these models never drift apart."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


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


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# a request's status: ``sending`` (a reservation, while it is uploaded), ``queued`` and
# ``processing`` (outstanding: the API holds it), ``completed``, ``failed``, ``lost``
SENDING = "sending"
OUTSTANDING = ("queued", "processing")


class ApiRequest(Base):
    """One `POST /api/fetch` the API accepted; followed by the poller until it ends."""

    __tablename__ = "api_requests"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the API's request_id
    response_uri: Mapped[str | None] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(16))  # SENDING, OUTSTANDING, or how it ended
    options_fp: Mapped[str] = mapped_column(String(16))
    options_json: Mapped[str] = mapped_column(Text)
    file_count: Mapped[int] = mapped_column(Integer)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_poll_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    poll_failures: Mapped[int] = mapped_column(Integer, default=0)
    credits_paid: Mapped[int | None] = mapped_column(Integer)
    credits_estimated: Mapped[int | None] = mapped_column(Integer)  # price table, at upload
    credits_balance: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    sent_by: Mapped[str | None] = mapped_column(String(255))  # the daemon whose cap it counts in
    # the daemon polling it now, until next_poll_at (a lease: anyone's once it lapses)
    polled_by: Mapped[str | None] = mapped_column(String(255))
    folders_json: Mapped[str | None] = mapped_column(Text)  # folder name → files sent (costs)

    __table_args__ = (Index("ix_api_requests_status_next_poll_at", "status", "next_poll_at"),)


class Result(Base):
    """What the API said about one file's bytes under one set of options: paid for once.
    ``sha256`` is the content key (the file's hash, with how it was converted to be sent)."""

    __tablename__ = "results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    options_fp: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str] = mapped_column(String(64))
    tagged_at: Mapped[datetime] = mapped_column(UTCDateTime)
    options_json: Mapped[str] = mapped_column(Text)
    asset_json: Mapped[str] = mapped_column(Text)
    errors_json: Mapped[str | None] = mapped_column(Text)  # per-backend failures (all.errors)

    __table_args__ = (UniqueConstraint("sha256", "options_fp"),)


HAS_ERROR = text("error IS NOT NULL")


class Job(Base):
    """One file in a watched folder, identified by its folder and its path inside it."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    folder: Mapped[str] = mapped_column(FsPath)
    relpath: Mapped[str] = mapped_column(FsPath)
    state: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    # the content key its result is stored under: the file's hash, with how it was converted
    sha256: Mapped[str | None] = mapped_column(String(64))
    file_sha256: Mapped[str | None] = mapped_column(String(64))  # the file's own (None: = sha256)
    sent_json: Mapped[str | None] = mapped_column(Text)  # what went: original, converted, …
    upload_name: Mapped[str | None] = mapped_column(Text)  # one per line (frames)
    request_id: Mapped[str | None] = mapped_column(ForeignKey("api_requests.id"))
    result_id: Mapped[int | None] = mapped_column(ForeignKey("results.id"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # the API's failures for it
    write_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    faults: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # in a row
    batch_limit: Mapped[int | None] = mapped_column(Integer)  # since a batch of it failed
    error: Mapped[str | None] = mapped_column(Text)
    locked_by: Mapped[str | None] = mapped_column(String(255))
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # the user applied its result: written even where results wait for review
    approved: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # the user asked for a fresh answer: its next upload goes past the results cache
    refresh: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

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

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WorkerLease(Base):
    """A running daemon or scan (a worker: one process start, by a random id) and its
    heartbeat lease: alive while ``lease_until`` (the database's clock) is ahead, renewed
    every third of ``database.lease_seconds``. Host and pid are for people only."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # run or scan
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heard_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime)


class Review(Base):
    """A reviewer's decision on one waiting result (``sidecars.apply: review``): accepted
    with the keywords kept (their paths, ``A|B``) and the description as edited, or
    rejected; who decided and when. Kept after the sidecars are written: it is the record of
    what the user approved, and the counts of each keyword's acceptance come from it."""

    __tablename__ = "reviews"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    decision: Mapped[str] = mapped_column(String(8))  # accept or reject
    proposed_json: Mapped[str] = mapped_column(Text)  # the keywords shown
    kept_json: Mapped[str] = mapped_column(Text)  # of those, the ones approved
    description: Mapped[str | None] = mapped_column(Text)  # as approved (None: none)
    decided_by: Mapped[str] = mapped_column(String(255))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
