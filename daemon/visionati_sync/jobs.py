"""The job table's manager: every read and every state change of jobs goes through here.

Each method is one transaction. Claims are a single ``UPDATE … FROM (CTE … LIMIT n FOR UPDATE
SKIP LOCKED) … RETURNING`` so that several workers (threads, processes or machines sharing a
PostgreSQL table) can take jobs from one table without two of them taking the same job.

States: ``pending`` → ``claimed`` (a worker is reading and uploading it) → ``submitted`` (in
an API request) → ``writing`` (the result is stored, sidecars not yet written) → ``done``;
or ``failed`` / ``skipped`` with the reason in ``error``. Users see claimed as pending and
writing as submitted: both are internal.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from .models import ApiRequest, DaemonState, Job, Result
from .options import RequestOptions
from .workers import worker_name

PENDING, CLAIMED, SUBMITTED, WRITING = "pending", "claimed", "submitted", "writing"
DONE, FAILED, SKIPPED = "done", "failed", "skipped"
VISIBLE_STATES = (PENDING, SUBMITTED, DONE, FAILED, SKIPPED)
_VISIBLE = {CLAIMED: PENDING, WRITING: SUBMITTED}
OUTSTANDING_REQUEST = ("queued", "processing")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Scope:
    """A part of the library: a folder, optionally only below a sub-path of it."""

    folder: str
    prefix: str = ""

    @staticmethod
    def starts(scopes: Sequence[Scope], folder: str) -> list[str]:
        """Given the scopes of a scan, where to start walking ``folder`` ("" = all of it)."""
        return [scope.prefix for scope in scopes if scope.folder == folder] or [""]

    def condition(self) -> ColumnElement[bool]:
        if not self.prefix:
            return Job.folder == self.folder
        prefix = self.prefix.rstrip("/")
        return and_(
            Job.folder == self.folder,
            or_(Job.relpath == prefix, Job.relpath.startswith(prefix + "/", autoescape=True)),
        )


class FileSeen(NamedTuple):
    """A file found on disk (a tuple: a rescan makes one per file in the library)."""

    relpath: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    folder: str
    relpath: str
    size: int
    mtime_ns: int
    attempts: int

    @property
    def path(self) -> str:
        return os.path.join(self.folder, self.relpath)


@dataclass(frozen=True)
class Upload:
    """A claimed job as it went out in a request."""

    job_id: int
    upload_name: str
    sha256: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class OutstandingRequest:
    id: str
    response_uri: str | None
    poll_failures: int
    submitted_at: datetime


@dataclass(frozen=True)
class WriteTask:
    """A job whose result is stored and whose sidecars are to be written."""

    job_id: int
    folder: str
    relpath: str
    size: int
    mtime_ns: int
    sha256: str
    request_id: str
    tagged_at: datetime
    options: dict[str, Any]
    asset: dict[str, Any]

    @property
    def path(self) -> str:
        return os.path.join(self.folder, self.relpath)


@dataclass(frozen=True)
class JobRow:
    id: int
    path: str
    state: str
    attempts: int
    error: str | None
    request_id: str | None
    updated_at: datetime


class JobStore:
    """Owns the job table. Given an engine (schema already upgraded), run transitions."""

    def __init__(self, engine: Engine, worker: str | None = None, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.worker = worker or worker_name()
        self.clock = clock

    # -- finding files ---------------------------------------------------------------------

    def changed(self, folder: str, directory: str, files: Sequence[FileSeen]) -> list[FileSeen]:
        """Given the files found in one directory of a folder, return those the table does not
        know with this size and mtime: a rescan of an unchanged library reads no file, and
        this one query per directory is all it costs."""
        if not files:
            return []
        # one contiguous range of the (folder, relpath) index per directory, in plain SQL: a
        # rescan runs this for every directory of the library, and random lookups or the
        # expression layer would cost more than the walk itself
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        sql = (
            f"SELECT relpath, size, mtime_ns FROM jobs WHERE folder = {mark} "  # noqa: S608
            f"AND relpath >= {mark} AND relpath < {mark}"
        )
        low, high = (f"{directory}/", f"{directory}0") if directory else ("", "\U0010ffff")
        depth = directory.count("/") + 1 if directory else 0
        raw = self.engine.raw_connection()  # one SELECT is atomic: no transaction to open
        try:
            cursor = raw.cursor()
            cursor.execute(sql, (folder, low, high))
            rows = cursor.fetchall()  # plain tuples: no row objects for 50,000 files
            cursor.close()
        finally:
            raw.close()
        known = {r: (s, m) for r, s, m in rows if r.count("/") == depth}  # not sub-folders' files
        return [f for f in files if known.get(f.relpath) != (f.size, f.mtime_ns)]

    def enqueue(
        self, folder: str, files: Iterable[FileSeen], *, retag_on_change: bool = True
    ) -> Counter[str]:
        """Given complete files found in a folder, queue the new and the changed ones.

        A file already known with the same size and mtime is left alone. One that changed is
        queued again unless it is in flight (the writer re-checks it before writing); a
        re-tag of unchanged bytes is served from the results cache, so it costs nothing.
        Returns counts of ``new``, ``requeued``, ``updated``, ``inflight`` and ``unchanged``.
        """
        counts: Counter[str] = Counter()
        now = self.clock()
        batch = list(files)
        if not batch:
            return counts
        with self.engine.begin() as conn:
            for start in range(0, len(batch), 500):
                chunk = batch[start : start + 500]
                existing = {
                    r.relpath: r
                    for r in conn.execute(
                        select(Job.id, Job.relpath, Job.size, Job.mtime_ns, Job.state).where(
                            Job.folder == folder, Job.relpath.in_([f.relpath for f in chunk])
                        )
                    )
                }
                new_rows = []
                for seen in chunk:
                    row = existing.get(seen.relpath)
                    if row is None:
                        new_rows.append(_new_job(folder, seen, now))
                        counts["new"] += 1
                    elif (row.size, row.mtime_ns) == (seen.size, seen.mtime_ns):
                        counts["unchanged"] += 1
                    elif row.state in (CLAIMED, SUBMITTED, WRITING):
                        counts["inflight"] += 1  # the writer compares before it writes
                    else:
                        requeue = row.state in (FAILED, SKIPPED) or (
                            row.state == DONE and retag_on_change
                        )
                        values: dict[str, Any] = {
                            "size": seen.size,
                            "mtime_ns": seen.mtime_ns,
                            "updated_at": now,
                        }
                        if requeue:
                            values |= {
                                "state": PENDING,
                                "error": None,
                                "attempts": 0,
                                "next_attempt_at": now,
                                "request_id": None,
                                "result_id": None,
                            }
                        conn.execute(update(Job).where(Job.id == row.id).values(**values))
                        counts["requeued" if requeue else "updated"] += 1
                if new_rows:
                    conn.execute(insert(Job), new_rows)
        return counts

    def move(
        self, folder: str, relpath: str, new_folder: str, new_relpath: str
    ) -> tuple[int, str] | None:
        """Given a file moved or renamed inside the watched folders, move its job with it: no
        new upload. A tagged file gets its sidecars written at the new place from the stored
        result. Returns the job's id and state, or None when there was no job to move."""
        now = self.clock()
        with self.engine.begin() as conn:
            row = conn.execute(
                select(Job.id, Job.state, Job.result_id).where(
                    Job.folder == folder, Job.relpath == relpath
                )
            ).one_or_none()
            taken = conn.execute(
                select(Job.id).where(Job.folder == new_folder, Job.relpath == new_relpath)
            ).scalar_one_or_none()
            if row is None or taken is not None:
                return None
            values: dict[str, Any] = {
                "folder": new_folder,
                "relpath": new_relpath,
                "updated_at": now,
            }
            if row.state == DONE and row.result_id is not None:
                values["state"] = WRITING
            conn.execute(update(Job).where(Job.id == row.id).values(**values))
            return row.id, str(values.get("state", row.state))

    def retry(self, job_ids: Sequence[int] = (), *, every: bool = False) -> int:
        """Put failed jobs (these, or all) back in the queue with a fresh count of attempts."""
        if not job_ids and not every:
            return 0
        now = self.clock()
        query = update(Job).where(Job.state == FAILED)
        if not every:
            query = query.where(Job.id.in_(job_ids))
        with self.engine.begin() as conn:
            result = conn.execute(
                query.values(
                    state=PENDING,
                    attempts=0,
                    error=None,
                    request_id=None,
                    next_attempt_at=now,
                    updated_at=now,
                )
            )
            return int(result.rowcount or 0)

    def requeue_for_retag(self, options: RequestOptions, scopes: Sequence[Scope] = ()) -> int:
        """Given the current options, queue again every done file tagged under other ones."""
        now = self.clock()
        stale = (
            select(Job.id)
            .join(Result, Result.id == Job.result_id)
            .where(Job.state == DONE, Result.options_fp != options.fingerprint())
        )
        if scopes:
            stale = stale.where(or_(*(scope.condition() for scope in scopes)))
        with self.engine.begin() as conn:
            result = conn.execute(
                update(Job)
                .where(Job.id.in_(stale.scalar_subquery()))
                .values(
                    state=PENDING,
                    result_id=None,
                    request_id=None,
                    attempts=0,
                    error=None,
                    next_attempt_at=now,
                    updated_at=now,
                )
            )
            return int(result.rowcount or 0)

    def forget(self, folder: str, relpath: str) -> tuple[int, str] | None:
        """Given a file that was deleted, drop its job unless a request or a write holds it;
        return its id and the state it had. Its result stays in the cache: a file put back
        costs nothing."""
        with self.engine.begin() as conn:
            row = conn.execute(
                delete(Job)
                .where(
                    Job.folder == folder,
                    Job.relpath == relpath,
                    Job.state.in_((PENDING, DONE, FAILED, SKIPPED)),
                )
                .returning(Job.id, Job.state)
            ).one_or_none()
            return None if row is None else (row.id, row.state)

    # -- submitting ------------------------------------------------------------------------

    def claim(self, limit: int, scopes: Sequence[Scope] = ()) -> list[ClaimedJob]:
        """Given a batch size, atomically take up to that many due pending jobs."""
        now = self.clock()
        due = select(Job.id).where(Job.state == PENDING, Job.next_attempt_at <= now)
        if scopes:
            due = due.where(or_(*(scope.condition() for scope in scopes)))
        cte = (
            due.order_by(Job.next_attempt_at, Job.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("due")
        )
        statement = (
            update(Job)
            .where(Job.id == cte.c.id)
            .values(state=CLAIMED, locked_by=self.worker, locked_at=now, updated_at=now)
            .returning(Job.id, Job.folder, Job.relpath, Job.size, Job.mtime_ns, Job.attempts)
        )
        with self.engine.begin() as conn:
            rows = conn.execute(statement).all()
        return sorted(
            (ClaimedJob(r.id, r.folder, r.relpath, r.size, r.mtime_ns, r.attempts) for r in rows),
            key=lambda job: job.id,
        )

    def release(
        self, job_ids: Sequence[int], *, delay: float = 0, error: str | None = None
    ) -> None:
        """Given claimed jobs not sent (paused, transient fault), put them back in the queue."""
        if not job_ids:
            return
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(
                update(Job)
                .where(Job.id.in_(job_ids), Job.state == CLAIMED, Job.locked_by == self.worker)
                .values(
                    state=PENDING,
                    locked_by=None,
                    locked_at=None,
                    error=error,
                    next_attempt_at=now + timedelta(seconds=delay),
                    updated_at=now,
                )
            )

    def retry_later(
        self, job_id: int, error: str, delay: float, max_attempts: int, *, count: bool = True
    ) -> bool:
        """Given a job that hit a fault, count the attempt (unless the upload that failed was
        already counted when it was sent); fail it once it has had ``max_attempts``.

        Returns True when the job will be tried again.
        """
        with self.engine.begin() as conn:
            return self._retry(conn, job_id, error, delay, max_attempts, count)

    def _retry(
        self, conn: Connection, job_id: int, error: str, delay: float, max_attempts: int,
        count: bool,
    ) -> bool:  # fmt: skip
        now = self.clock()
        attempts = conn.execute(select(Job.attempts).where(Job.id == job_id)).scalar_one_or_none()
        if attempts is None:
            return False
        attempts += 1 if count else 0
        again = attempts < max_attempts
        conn.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                state=PENDING if again else FAILED,
                attempts=attempts,
                error=error if again else f"{error} (gave up after {attempts} attempts)",
                locked_by=None,
                locked_at=None,
                request_id=None,
                next_attempt_at=now + timedelta(seconds=delay),
                updated_at=now,
            )
        )
        return again

    def finish_unsent(self, job_id: int, state: str, error: str) -> None:
        """Given a claimed job that will not be uploaded, mark it failed or skipped."""
        assert state in (FAILED, SKIPPED)
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(state=state, error=error, locked_by=None, locked_at=None, updated_at=now)
            )

    def drop_vanished(self, job_id: int) -> None:
        """Given a claimed job whose file is gone, drop it from the queue."""
        with self.engine.begin() as conn:
            conn.execute(delete(Job).where(Job.id == job_id, Job.state == CLAIMED))

    def cached_results(self, hashes: Sequence[str], options: RequestOptions) -> dict[str, int]:
        """Given files' hashes and the options, return hash → stored result for those known."""
        if not hashes:
            return {}
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(Result.sha256, Result.id).where(
                    Result.options_fp == options.fingerprint(), Result.sha256.in_(set(hashes))
                )
            )
            return {sha: result_id for sha, result_id in rows}

    def use_cached(self, upload: Upload, result_id: int) -> None:
        """Given a claimed job whose bytes were tagged before, reuse that result: no upload."""
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(
                update(Job)
                .where(Job.id == upload.job_id, Job.state == CLAIMED)
                .values(
                    state=WRITING,
                    sha256=upload.sha256,
                    size=upload.size,
                    mtime_ns=upload.mtime_ns,
                    result_id=result_id,
                    locked_by=None,
                    locked_at=None,
                    error=None,
                    updated_at=now,
                )
            )

    def mark_submitted(
        self,
        request_id: str,
        response_uri: str | None,
        options: RequestOptions,
        uploads: Sequence[Upload],
        first_poll_in: float,
        credits_estimated: int | None = None,
    ) -> None:
        """Given the API's answer to an upload, record the request and its files together."""
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(
                insert(ApiRequest).values(
                    id=request_id,
                    response_uri=response_uri,
                    status="queued",
                    options_fp=options.fingerprint(),
                    options_json=json.dumps(options.as_dict(), sort_keys=True),
                    file_count=len(uploads),
                    credits_estimated=credits_estimated,
                    submitted_at=now,
                    next_poll_at=now + timedelta(seconds=first_poll_in),
                    poll_failures=0,
                )
            )
            conn.execute(  # one statement, executed for every file
                update(Job)
                .where(Job.id == bindparam("job_id"))
                .values(
                    state=SUBMITTED,
                    request_id=request_id,
                    upload_name=bindparam("upload_name"),
                    sha256=bindparam("sha"),
                    size=bindparam("file_size"),
                    mtime_ns=bindparam("mtime"),
                    attempts=Job.attempts + 1,
                    locked_by=None,
                    locked_at=None,
                    error=None,
                    updated_at=now,
                ),
                [
                    {
                        "job_id": u.job_id,
                        "upload_name": u.upload_name,
                        "sha": u.sha256,
                        "file_size": u.size,
                        "mtime": u.mtime_ns,
                    }
                    for u in uploads
                ],
            )

    # -- polling ---------------------------------------------------------------------------

    def due_requests(self, limit: int = 100) -> list[OutstandingRequest]:
        """Return outstanding requests whose next poll is due, the longest-waiting first."""
        now = self.clock()
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(
                    ApiRequest.id,
                    ApiRequest.response_uri,
                    ApiRequest.poll_failures,
                    ApiRequest.submitted_at,
                )
                .where(ApiRequest.status.in_(OUTSTANDING_REQUEST), ApiRequest.next_poll_at <= now)
                .order_by(ApiRequest.next_poll_at)
                .limit(limit)
            )
            return [
                OutstandingRequest(r.id, r.response_uri, r.poll_failures, r.submitted_at)
                for r in rows
            ]

    def defer_poll(
        self, request_id: str, status: str, delay: float, *, failure: bool = False
    ) -> None:
        """Given a request still in progress (or a poll that failed), poll it again later."""
        now = self.clock()
        values: dict[str, Any] = {
            "status": status if status in OUTSTANDING_REQUEST else "queued",
            "last_polled_at": now,
            "next_poll_at": now + timedelta(seconds=delay),
        }
        if failure:
            values["poll_failures"] = ApiRequest.poll_failures + 1
        with self.engine.begin() as conn:
            conn.execute(update(ApiRequest).where(ApiRequest.id == request_id).values(**values))

    def request_uploads(self, request_id: str) -> dict[str, int]:
        """Given a request, return upload name → job id for its files still awaiting it."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(Job.id, Job.upload_name).where(
                    Job.request_id == request_id, Job.state == SUBMITTED
                )
            )
            return {r.upload_name: r.id for r in rows if r.upload_name is not None}

    def complete_request(
        self,
        request_id: str,
        credits_paid: int | None,
        balance: int | None,
        assets: dict[int, dict[str, Any]],
        backend_errors: list[Any],
        missing_error: str,
    ) -> None:
        """Given a completed request's assets by job id, store each result and queue the
        sidecar writes, all in one transaction: a crash after this loses nothing."""
        now = self.clock()
        errors_json = json.dumps(backend_errors) if backend_errors else None
        with self.engine.begin() as conn:
            fp, options_json = conn.execute(
                select(ApiRequest.options_fp, ApiRequest.options_json).where(
                    ApiRequest.id == request_id
                )
            ).one()
            conn.execute(
                update(ApiRequest)
                .where(ApiRequest.id == request_id)
                .values(
                    status="completed",
                    finished_at=now,
                    last_polled_at=now,
                    credits_paid=credits_paid,
                    credits_balance=balance,
                )
            )
            jobs = conn.execute(
                select(Job.id, Job.sha256).where(
                    Job.request_id == request_id, Job.state == SUBMITTED
                )
            ).all()
            answered = [j for j in jobs if assets.get(j.id) is not None and j.sha256]
            missing = [j.id for j in jobs if j not in answered]
            if missing:
                conn.execute(
                    update(Job)
                    .where(Job.id.in_(missing))
                    .values(state=FAILED, error=missing_error, updated_at=now)
                )
            hashes = {j.sha256 for j in answered}
            stored = dict(
                conn.execute(
                    select(Result.sha256, Result.id).where(
                        Result.options_fp == fp, Result.sha256.in_(hashes)
                    )
                ).all()
            )
            new = {j.sha256: assets[j.id] for j in answered if j.sha256 not in stored}
            if new:
                conn.execute(
                    insert(Result),
                    [
                        {
                            "sha256": sha,
                            "options_fp": fp,
                            "request_id": request_id,
                            "tagged_at": now,
                            "options_json": options_json,
                            "asset_json": json.dumps(asset),
                            "errors_json": errors_json,
                        }
                        for sha, asset in new.items()
                    ],
                )
                stored.update(
                    conn.execute(
                        select(Result.sha256, Result.id).where(
                            Result.options_fp == fp, Result.sha256.in_(list(new))
                        )
                    ).all()
                )
            if answered:
                conn.execute(
                    update(Job)
                    .where(Job.id == bindparam("job_id"))
                    .values(state=WRITING, result_id=bindparam("rid"), error=None, updated_at=now),
                    [{"job_id": j.id, "rid": stored[j.sha256]} for j in answered],
                )

    def fail_request(
        self, request_id: str, error: str, *, retry_delay: float, max_attempts: int
    ) -> None:
        """Given a request the API says failed, retry its files until they run out of tries
        (its upload counted as their attempt), in the transaction that ends the request."""
        self._end_request(request_id, "failed", error, f"API: {error}", retry_delay, max_attempts)

    def request_lost(self, request_id: str, error: str, max_attempts: int) -> None:
        """Given a request the API no longer knows (its results expire after 24 hours), queue
        its files again; one that has been sent ``max_attempts`` times fails instead."""
        self._end_request(request_id, "lost", error, error, 0, max_attempts)

    def _end_request(
        self, request_id: str, status: str, error: str, job_error: str, delay: float,
        max_attempts: int,
    ) -> None:  # fmt: skip
        """End a request and put its files back (or fail them) in one transaction: a crash
        in between would leave files waiting on a request nobody polls any more."""
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(
                update(ApiRequest)
                .where(ApiRequest.id == request_id)
                .values(status=status, error=error, finished_at=now, last_polled_at=now)
            )
            job_ids = conn.execute(
                select(Job.id).where(Job.request_id == request_id, Job.state == SUBMITTED)
            ).scalars()
            for job_id in list(job_ids):
                self._retry(conn, job_id, job_error, delay, max_attempts, count=False)

    # -- writing sidecars ------------------------------------------------------------------

    def write_tasks(self, limit: int = 50) -> list[WriteTask]:
        """Return jobs whose results are stored and whose sidecars are still to be written."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(
                    Job.id,
                    Job.folder,
                    Job.relpath,
                    Job.size,
                    Job.mtime_ns,
                    Result.sha256,
                    Result.request_id,
                    Result.tagged_at,
                    Result.options_json,
                    Result.asset_json,
                )
                .join(Result, Result.id == Job.result_id)
                .where(Job.state == WRITING)
                .order_by(Job.id)
                .limit(limit)
            ).all()
        return [
            WriteTask(
                r.id,
                r.folder,
                r.relpath,
                r.size,
                r.mtime_ns,
                r.sha256,
                r.request_id,
                r.tagged_at,
                json.loads(r.options_json),
                json.loads(r.asset_json),
            )
            for r in rows
        ]

    def mark_done(self, job_ids: Sequence[int]) -> None:
        """Given jobs whose sidecars are written and durable, mark them done together."""
        if not job_ids:
            return
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(
                update(Job)
                .where(Job.id.in_(job_ids), Job.state == WRITING)
                .values(state=DONE, error=None, done_at=now, updated_at=now)
            )

    def requeue_changed(self, job_id: int, size: int, mtime_ns: int) -> None:
        """Given a job whose file changed after upload, queue it again (its result is stale)."""
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == WRITING)
                .values(
                    state=PENDING,
                    size=size,
                    mtime_ns=mtime_ns,
                    result_id=None,
                    request_id=None,
                    error=None,
                    next_attempt_at=now,
                    updated_at=now,
                )
            )

    def note_unchanged(self, job_id: int, size: int, mtime_ns: int) -> None:
        """Given a job whose file was touched but holds the same bytes, remember the new stat."""
        with self.engine.begin() as conn:
            conn.execute(update(Job).where(Job.id == job_id).values(size=size, mtime_ns=mtime_ns))

    def mark_write_failed(self, job_id: int, error: str) -> None:
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == WRITING)
                .values(state=FAILED, error=error, updated_at=now)
            )

    # -- recovery --------------------------------------------------------------------------

    def release_orphaned_claims(self, alive: Callable[[str], bool]) -> int:
        """Given a test of whether a claim's owner still runs, put dead owners' claims back."""
        now = self.clock()
        with self.engine.begin() as conn:
            owners = conn.execute(
                select(Job.locked_by).where(Job.state == CLAIMED).distinct()
            ).scalars()
            dead = [owner for owner in owners if owner is None or not alive(owner)]
            if not dead:
                return 0
            owned: ColumnElement[bool] = Job.locked_by.in_([d for d in dead if d is not None])
            if None in dead:
                owned = or_(owned, Job.locked_by.is_(None))
            result = conn.execute(
                update(Job)
                .where(Job.state == CLAIMED, owned)
                .values(state=PENDING, locked_by=None, locked_at=None, updated_at=now)
            )
            return int(result.rowcount or 0)

    # -- reporting -------------------------------------------------------------------------

    def counts(self, scopes: Sequence[Scope] = ()) -> dict[str, int]:
        """Return the number of jobs in each user-visible state (claimed counts as pending)."""
        query = select(Job.state, func.count()).group_by(Job.state)
        if scopes:
            query = query.where(or_(*(scope.condition() for scope in scopes)))
        counts = dict.fromkeys(VISIBLE_STATES, 0)
        with self.engine.begin() as conn:
            for state, count in conn.execute(query):
                counts[_VISIBLE.get(state, state)] += count
        return counts

    def jobs(self, state: str | None = None, limit: int | None = None) -> list[JobRow]:
        query = select(Job).order_by(Job.id)
        if state is not None:
            internal = [s for s, visible in _VISIBLE.items() if visible == state]
            query = query.where(Job.state.in_([state, *internal]))
        if limit is not None:
            query = query.limit(limit)
        with self.engine.begin() as conn:
            return [_job_row(j) for j in conn.execute(query).all()]

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
            {
                "request_id": r.request_id,
                "at": r.tagged_at.isoformat(),
                "errors": json.loads(r.errors_json),
            }
            for r in rows
        ]

    def recent_errors(self, limit: int = 5) -> list[JobRow]:
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(Job)
                .where(Job.error.is_not(None))
                .order_by(Job.updated_at.desc())
                .limit(limit)
            ).all()
        return [_job_row(j) for j in rows]

    def credits_spent(self, since: datetime | None = None) -> int:
        query = select(func.coalesce(func.sum(ApiRequest.credits_paid), 0))
        if since is not None:
            query = query.where(ApiRequest.finished_at >= since)
        with self.engine.begin() as conn:
            return int(conn.execute(query).scalar_one() or 0)

    def credits_committed(self, since: datetime | None = None) -> int:
        """Credits that requests sent since ``since`` cost: what they were charged, or, while
        outstanding, what the price table says they will be."""
        spent = func.coalesce(ApiRequest.credits_paid, ApiRequest.credits_estimated, 0)
        query = select(func.coalesce(func.sum(spent), 0))
        if since is not None:
            query = query.where(ApiRequest.submitted_at >= since)
        with self.engine.begin() as conn:
            return int(conn.execute(query).scalar_one() or 0)

    def has_results(self) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(select(Result.id).limit(1)).first() is not None

    def done_under(
        self, folder: str, relpaths: Sequence[str], options: RequestOptions
    ) -> dict[str, tuple[int, int]]:
        """Given files of a folder, return (size, mtime_ns) of those done under ``options``."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(Job.relpath, Job.size, Job.mtime_ns)
                .join(Result, Result.id == Job.result_id)
                .where(
                    Job.folder == folder,
                    Job.relpath.in_(relpaths),
                    Job.state == DONE,
                    Result.options_fp == options.fingerprint(),
                )
            )
            return {r.relpath: (r.size, r.mtime_ns) for r in rows}

    def outstanding_requests(self) -> int:
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(ApiRequest.status.in_(OUTSTANDING_REQUEST))
                ).scalar_one()
            )

    def last_balance(self) -> int | None:
        with self.engine.begin() as conn:
            return conn.execute(
                select(ApiRequest.credits_balance)
                .where(ApiRequest.credits_balance.is_not(None))
                .order_by(ApiRequest.finished_at.desc())
                .limit(1)
            ).scalar_one_or_none()

    def oldest_pending(self) -> datetime | None:
        with self.engine.begin() as conn:
            return conn.execute(
                select(func.min(Job.created_at)).where(Job.state.in_((PENDING, CLAIMED)))
            ).scalar_one_or_none()

    def put_state(self, key: str, value: Any) -> None:
        """Given a fact for `status` (e.g. why submissions are paused), store it; None clears."""
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(delete(DaemonState).where(DaemonState.key == key))
            if value is not None:
                conn.execute(
                    insert(DaemonState).values(key=key, value=json.dumps(value), updated_at=now)
                )

    def get_state(self, key: str) -> Any:
        with self.engine.begin() as conn:
            raw = conn.execute(
                select(DaemonState.value).where(DaemonState.key == key)
            ).scalar_one_or_none()
        return None if raw is None else json.loads(raw)


def _job_row(job: Any) -> JobRow:
    """Given a row of the jobs table, return it as users see it (internal states folded)."""
    return JobRow(
        job.id,
        os.path.join(job.folder, job.relpath),
        _VISIBLE.get(job.state, job.state),
        job.attempts,
        job.error,
        job.request_id,
        job.updated_at,
    )


def _new_job(folder: str, seen: FileSeen, now: datetime) -> dict[str, Any]:
    return {
        "folder": folder,
        "relpath": seen.relpath,
        "state": PENDING,
        "size": seen.size,
        "mtime_ns": seen.mtime_ns,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }
