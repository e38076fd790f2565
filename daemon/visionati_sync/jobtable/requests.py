"""Requests and results: what went to the API, following it until it answers, and the
results cache that makes the same bytes under the same options cost nothing a second time.
The submitter and the poller use this part.

A request is first a reservation (``sending``: its estimated credits, taken under the fleet's
spending lock, so daemons racing for the last credits cannot overspend), then, once the API
took it, ``queued``/``processing`` until it ends. Whichever daemon's poller takes a due
request holds it for a lease (``polled_by`` until ``next_poll_at``); ending it twice is a
no-op, so a daemon that lost its lease writes nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, or_, select, update

from ..api.options import RequestOptions
from ..records import OutstandingRequest, State, Upload
from . import transitions as t
from .base import TablePart, dialect_insert, insert_missing, serialise
from .reports import committed_since
from .schema import OUTSTANDING, SENDING, ApiRequest, Job, Result

Committed = Callable[[datetime | None], int]  # credits the fleet committed since a time
# what a file was when it went out (or joined a request), bound per file
_SENT: dict[str, Any] = {
    "sha256": bindparam("sha"),
    "file_sha256": bindparam("file_sha"),
    "sent_json": bindparam("sent"),
    "size": bindparam("file_size"),
    "mtime_ns": bindparam("mtime"),
}


class Requests(TablePart):
    # -- the results cache -----------------------------------------------------------------

    def has_results(self) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(select(Result.id).limit(1)).first() is not None

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

    def use_cached(self, hits: Sequence[tuple[Upload, int]]) -> None:
        """Given claimed jobs whose bytes were tagged before, each with its stored result,
        reuse those results (no upload), all in one transaction: a backfill of copies is
        mostly this."""
        if not hits:
            return
        with self.engine.begin() as conn:
            t.apply(
                conn, t.CACHED, t.writing(self.clock(), bindparam("rid")) | _SENT,
                Job.id == bindparam("job_id"), Job.locked_by == self.worker,
                many=[_sent(upload) | {"rid": result_id} for upload, result_id in hits],
            )  # fmt: skip

    # -- requests in flight ----------------------------------------------------------------

    def outstanding(self) -> int:
        """How many requests the API holds for this daemon now (its in-flight cap counts
        these; every daemon of a fleet has its own)."""
        return len(self.outstanding_ids())

    def options_of(self, request_id: str) -> dict[str, Any]:
        """Given a request, the options it asked with."""
        with self.engine.begin() as conn:
            options = conn.execute(
                select(ApiRequest.options_json).where(ApiRequest.id == request_id)
            ).scalar_one()
        return dict(json.loads(options))

    def outstanding_ids(self) -> list[str]:
        """The requests the API holds for this daemon now, the oldest first."""
        with self.engine.begin() as conn:
            return list(
                conn.execute(
                    select(ApiRequest.id)
                    .where(ApiRequest.status.in_(OUTSTANDING), ApiRequest.sent_by == self.worker)
                    .order_by(ApiRequest.submitted_at)
                ).scalars()
            )

    def adopt(self, gone: Sequence[str]) -> int:
        """Given workers that are gone, count their outstanding requests (and an older
        version's) in this daemon's in-flight cap."""
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    update(ApiRequest)
                    .where(
                        ApiRequest.status.in_(OUTSTANDING),
                        ApiRequest.sent_by.is_(None) | ApiRequest.sent_by.in_(gone),
                    )
                    .values(sent_by=self.worker)
                ).rowcount
                or 0
            )

    def reserve(self, decide: Callable[[Committed], tuple[int, int]]) -> tuple[int, str | None]:
        """Given how to choose the part of a batch that goes from what the whole fleet has
        committed (``decide(committed)`` → files, credits), choose it and record it as a
        request being sent, in one transaction that every daemon's reservation waits for.
        Returns the number of files and the reservation (None when none go)."""
        now = self.clock()
        with self.engine.begin() as conn:
            serialise(conn, "spending")
            files, credits = decide(lambda since: committed_since(conn, since))
            if not files:
                return 0, None
            reservation = f"{SENDING}-{uuid.uuid4()}"
            conn.execute(
                insert(ApiRequest).values(
                    id=reservation, status=SENDING, options_fp="", options_json="{}",
                    file_count=files, credits_estimated=credits, submitted_at=now,
                    next_poll_at=self.lease_end(now), poll_failures=0, sent_by=self.worker,
                    polled_by=self.worker,
                )
            )  # fmt: skip
        return files, reservation

    def unreserve(self, reservation: str) -> None:
        """Given a reservation whose request did not go (refused, or not sent), drop it."""
        with self.engine.begin() as conn:
            conn.execute(delete(ApiRequest).where(ApiRequest.id == reservation))

    def in_flight(self, hashes: Sequence[str], options: RequestOptions) -> dict[str, str]:
        """Given files' hashes and the options, return hash → the request in flight that
        carries those bytes already, for those that one does."""
        if not hashes:
            return {}
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(Job.sha256, Job.request_id)
                .join(ApiRequest, ApiRequest.id == Job.request_id)
                .where(
                    Job.sha256.in_(set(hashes)),
                    Job.state == State.SUBMITTED,
                    ApiRequest.options_fp == options.fingerprint(),
                    ApiRequest.status.in_(OUTSTANDING),
                )
            )
            return {sha: request_id for sha, request_id in rows if sha and request_id}

    def ride(self, riders: Sequence[Upload], request_id: str) -> bool:
        """Given claimed jobs whose bytes are in a request in flight, make them wait for its
        result: no upload, no attempt. False (nothing done) when the request ended since
        ``in_flight`` saw it: a rider joined then would wait for an answer already given.
        The request's row is locked first, so that the poller ending it either waits for
        the riders and answers them too, or has ended it before they look."""
        with self.engine.begin() as conn:
            status = conn.execute(
                select(ApiRequest.status).where(ApiRequest.id == request_id).with_for_update()
            ).scalar_one_or_none()
            if status not in OUTSTANDING:
                return False
            _ride(conn, riders, request_id, self.clock(), self.worker)
            return True

    def mark_submitted(
        self,
        request_id: str,
        response_uri: str | None,
        options: RequestOptions,
        uploads: Sequence[Upload],
        first_poll_in: float,
        credits_estimated: int | None = None,
        riders: Sequence[Upload] = (),
        reservation: str | None = None,
    ) -> bool:
        """Given the API's answer to an upload, record the request (in place of its
        ``reservation``), its files, and the files with the same bytes that wait for its
        result (``riders``), together. Recorded once: again (a journal replayed after a
        crash that followed the first) does nothing; returns whether it recorded now.

        A file whose claim this daemon lost meanwhile (an outage longer than the lease) is
        attached all the same where it still waits to go (pending, or claimed by a daemon
        that has not sent it) with the bytes that were sent: the API has them and their
        credits, so they are never paid for twice. One another daemon has sent since is
        left to it."""
        now = self.clock()
        with self.engine.begin() as conn:
            if conn.execute(select(ApiRequest.id).where(ApiRequest.id == request_id)).first():
                return False
            folders = conn.execute(  # where its credits go, for the ledger (`costs`)
                select(Job.folder, func.count())
                .where(Job.id.in_([u.job_id for u in uploads]))
                .group_by(Job.folder)
            ).all()
            # once, even when two record it at the same moment (two replays of a journal)
            recorded = conn.execute(
                dialect_insert(conn)(ApiRequest)
                .values(
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
                    sent_by=self.worker,
                    folders_json=json.dumps({folder: n for folder, n in sorted(folders)}),
                )
                .on_conflict_do_nothing(index_elements=[ApiRequest.id])
            ).rowcount
            if not recorded:
                return False
            if reservation is not None:
                conn.execute(delete(ApiRequest).where(ApiRequest.id == reservation))
            named = _SENT | {"upload_name": bindparam("upload_name")}
            values = t.submitted(now, request_id) | named
            each = [_sent(u) | {"upload_name": u.upload_name} for u in uploads]
            mine = (Job.id == bindparam("job_id"), Job.locked_by == self.worker)
            t.apply(conn, t.SUBMIT, values, *mine, many=each)
            moved = set(conn.execute(select(Job.id).where(Job.request_id == request_id)).scalars())
            lost = [params for params in each if params["job_id"] not in moved]
            if lost:  # as sent: the same size and mtime
                as_sent = (Job.size == bindparam("file_size"), Job.mtime_ns == bindparam("mtime"))
                t.apply(conn, t.ATTACH, values, Job.id == bindparam("job_id"), *as_sent, many=lost)
            _ride(conn, riders, request_id, now, self.worker)
        return True

    def due(self, limit: int = 100, others_late_by: float = 0.0) -> list[OutstandingRequest]:
        """Take the outstanding requests whose next poll is due, for this daemon to poll
        (held for a lease), the oldest first: those it sent, and another daemon's (or a
        dead one's) once ``others_late_by`` seconds overdue. A daemon that polls its own
        learns at once that a place in its in-flight cap is free."""
        now = self.clock()
        late = now - timedelta(seconds=others_late_by)
        mine = or_(ApiRequest.sent_by == self.worker, ApiRequest.sent_by.is_(None))
        due = (
            select(ApiRequest.id)
            .where(
                ApiRequest.status.in_(OUTSTANDING),
                ApiRequest.next_poll_at <= now,
                or_(mine, ApiRequest.next_poll_at <= late),
            )
            .order_by(ApiRequest.next_poll_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("due_polls")
        )
        with self.engine.begin() as conn:
            rows = conn.execute(
                update(ApiRequest)
                .where(ApiRequest.id == due.c.id)
                .values(polled_by=self.worker, next_poll_at=self.lease_end(now))
                .returning(
                    ApiRequest.id,
                    ApiRequest.response_uri,
                    ApiRequest.poll_failures,
                    ApiRequest.submitted_at,
                    ApiRequest.options_fp,
                    ApiRequest.credits_estimated,
                )
            ).all()
        taken = [
            OutstandingRequest(
                r.id, r.response_uri, r.poll_failures, r.submitted_at, r.options_fp,
                r.credits_estimated,
            )
            for r in rows
        ]  # fmt: skip
        return sorted(taken, key=lambda r: (r.submitted_at, r.id))

    def next_due(self, others_late_by: float = 0.0) -> datetime | None:
        """When ``due`` will next have a request for this daemon (None: none outstanding):
        two reads, no lock, so that the poller can look often and take (a write) only when
        something is due."""
        mine = or_(ApiRequest.sent_by == self.worker, ApiRequest.sent_by.is_(None))
        outstanding = ApiRequest.status.in_(OUTSTANDING)
        with self.engine.begin() as conn:
            own = conn.execute(
                select(func.min(ApiRequest.next_poll_at)).where(outstanding, mine)
            ).scalar_one()
            others = conn.execute(
                select(func.min(ApiRequest.next_poll_at)).where(outstanding, ~mine)
            ).scalar_one()
        late = timedelta(seconds=others_late_by)
        times = [own, None if others is None else others + late]
        return min((t for t in times if t is not None), default=None)

    def defer_poll(
        self, request_id: str, status: str | None, delay: float, *, failure: bool = False
    ) -> None:
        """Given a request still in progress (``status``, as the API said), or a poll that
        failed (``failure``: one more in a row; a good answer starts the count over), poll
        it again after ``delay``."""
        now = self.clock()
        values: dict[str, Any] = {
            "last_polled_at": now,
            "polled_by": None,
            "next_poll_at": now + timedelta(seconds=delay),
            "poll_failures": ApiRequest.poll_failures + 1 if failure else 0,
        }
        if status in OUTSTANDING:
            values["status"] = status
        with self.engine.begin() as conn:
            conn.execute(
                update(ApiRequest)
                .where(ApiRequest.id == request_id, ApiRequest.status.in_(OUTSTANDING))
                .values(**values)
            )

    def uploads(self, request_id: str) -> dict[str, int]:
        """Given a request, return upload name → job id for its files still awaiting it, in
        the order they were sent (a video sent as frames has a name per frame)."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(Job.id, Job.upload_name)
                .where(Job.request_id == request_id, Job.state == State.SUBMITTED)
                .order_by(Job.id)
            )
            return {name: r.id for r in rows if r.upload_name for name in r.upload_name.split("\n")}

    # -- how a request ends ----------------------------------------------------------------

    def complete(
        self,
        request_id: str,
        credits_paid: int | None,
        balance: int | None,
        assets: dict[int, dict[str, Any]],
        backend_errors: list[Any],
        unanswered: dict[int, str],
        *,
        retry_delay: float,
        max_attempts: int,
    ) -> bool:
        """Given a completed request's assets by job id, store each result and queue the
        sidecar writes, all in one transaction: a crash after this loses nothing. A file the
        API answered nothing for (``unanswered``: job id → why, as far as it said) is an
        answer about that file: an attempt, then sent again. False (and nothing done) when
        another daemon ended the request first."""
        now = self.clock()
        with self.engine.begin() as conn:
            fp, options_json = conn.execute(
                select(ApiRequest.options_fp, ApiRequest.options_json).where(
                    ApiRequest.id == request_id
                )
            ).one()
            if not self._end(conn, request_id, "completed", credits_paid=credits_paid,
                             credits_balance=balance):  # fmt: skip
                return False
            jobs = conn.execute(
                select(Job.id, Job.sha256).where(
                    Job.request_id == request_id, Job.state == State.SUBMITTED
                )
            ).all()
            # by content: a file that rode on an upload of the same bytes gets its result too
            by_sha = {j.sha256: assets[j.id] for j in jobs if j.id in assets and j.sha256}
            answered = [j for j in jobs if j.sha256 in by_sha]
            default = "the API returned no result for this file"
            for job in (j for j in jobs if j not in answered):
                t.try_again(
                    conn, now, [job.id], unanswered.get(job.id, default), delay=retry_delay,
                    max_attempts=max_attempts, count=True, transition=t.UNANSWERED,
                )  # fmt: skip
            stored = {
                "request_id": request_id,
                "tagged_at": now,
                "options_json": options_json,
                "errors_json": json.dumps(backend_errors) if backend_errors else None,
            }
            results = _store_results(conn, fp, by_sha, stored)
            t.apply(
                conn, t.ANSWERED, t.writing(now, bindparam("rid")),
                Job.id == bindparam("job_id"),
                many=[{"job_id": j.id, "rid": results[j.sha256]} for j in answered],
            )  # fmt: skip
        return True

    def fail(self, request_id: str, error: str, *, retry_delay: float, max_attempts: int) -> None:
        """Given a request the API says failed, in the transaction that ends it: a batch goes
        back in halves (no attempt: which file was it?), a file alone counts an attempt."""
        self._give_back(
            request_id, "failed", error, f"API: {error}", retry_delay, max_attempts, split=True
        )

    def lost(self, request_id: str, error: str, max_attempts: int) -> None:
        """Given a request the API no longer knows (its results expire after 24 hours), queue
        its files again, an attempt each: it was paid for, and is paid for again."""
        self._give_back(request_id, "lost", error, error, 0, max_attempts, split=False)

    def _give_back(
        self, request_id: str, status: str, error: str, job_error: str, delay: float,
        max_attempts: int, *, split: bool,
    ) -> None:  # fmt: skip
        """End a request and put its files back (or fail them) in one transaction: a crash
        in between would leave files waiting on a request nobody polls any more. Files that
        rode on it go back as they were."""
        now = self.clock()
        with self.engine.begin() as conn:
            if not self._end(conn, request_id, status, error=error):
                return  # another daemon ended it
            jobs = conn.execute(
                select(Job.id, Job.upload_name).where(
                    Job.request_id == request_id, Job.state == State.SUBMITTED
                )
            ).all()
            uploaded = [j.id for j in jobs if j.upload_name is not None]
            riders = [j.id for j in jobs if j.upload_name is None]
            if split and len(uploaded) > 1:
                values = t.halved(now, job_error, len(uploaded), delay=delay)
                t.apply(conn, t.TRY_AGAIN, values, Job.id.in_(uploaded))
            else:
                t.try_again(
                    conn, now, uploaded, job_error,
                    delay=delay, max_attempts=max_attempts, count=True,
                )  # fmt: skip
            if riders:  # they were never sent: back as they were
                values = t.pending(now, delay=delay, error=job_error)
                t.apply(conn, t.TRY_AGAIN, values, Job.id.in_(riders))

    def _end(self, conn: Any, request_id: str, status: str, **values: Any) -> bool:
        """End a request still outstanding; False when it is not (another daemon ended it:
        PostgreSQL makes the second wait for the first, then finds nothing to end)."""
        now = self.clock()
        ended = conn.execute(
            update(ApiRequest)
            .where(ApiRequest.id == request_id, ApiRequest.status.in_(OUTSTANDING))
            .values(status=status, finished_at=now, last_polled_at=now, polled_by=None, **values)
        ).rowcount
        return bool(ended)


def _store_results(
    conn: Any, fp: str, assets: dict[str, dict[str, Any]], columns: dict[str, Any]
) -> dict[str, int]:
    """Given assets by the sha256 of the bytes they describe, store each under these
    options; return sha256 → result id for all of them. A result stored before is replaced
    where it stands (the same id): bytes go to the API again only when the user asked for a
    fresh answer (``scan --refresh``), and then the fresh one is what counts."""

    def known() -> dict[str, int]:
        return dict(
            conn.execute(
                select(Result.sha256, Result.id).where(
                    Result.options_fp == fp, Result.sha256.in_(list(assets))
                )
            ).all()
        )

    if not assets:
        return {}
    stored = known()
    new = [
        {"sha256": sha, "options_fp": fp, "asset_json": json.dumps(asset), **columns}
        for sha, asset in assets.items()
        if sha not in stored
    ]
    for sha, result_id in stored.items():
        conn.execute(
            update(Result)
            .where(Result.id == result_id)
            .values(asset_json=json.dumps(assets[sha]), **columns)
        )
    if new:
        insert_missing(conn, Result, [Result.sha256, Result.options_fp], new)
        stored = known()
    return stored


def _sent(upload: Upload) -> dict[str, Any]:
    return {
        "job_id": upload.job_id, "sha": upload.sha256, "file_size": upload.size,
        "mtime": upload.mtime_ns, "file_sha": upload.file_sha256,
        "sent": None if upload.sent is None else json.dumps(upload.sent, sort_keys=True),
    }  # fmt: skip


def _ride(conn: Any, riders: Sequence[Upload], request_id: str, now: datetime, worker: str) -> None:
    t.apply(
        conn, t.RIDE, t.submitted(now, request_id, uploaded=False) | _SENT,
        Job.id == bindparam("job_id"), Job.locked_by == worker, many=[_sent(u) for u in riders],
    )  # fmt: skip
