"""Polls: following every request the API holds until it ends. Whichever daemon's poller
takes a due request holds it for a lease (``polled_by`` until ``next_poll_at``); the answer
stores each file's result (``results.store``) and queues its sidecars, or sends its files
back; ending a request twice is a no-op, so a daemon that lost its lease writes nothing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update

from ..records import OutstandingRequest, State
from . import transitions as t
from .base import TablePart
from .results import store
from .schema import OUTSTANDING, ApiRequest, Job


class Polls(TablePart):
    def options_of(self, request_id: str) -> dict[str, Any]:
        """Given a request, the options it asked with."""
        with self.engine.begin() as conn:
            options = conn.execute(
                select(ApiRequest.options_json).where(ApiRequest.id == request_id)
            ).scalar_one()
        return dict(json.loads(options))

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
            results = store(conn, fp, by_sha, stored)
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
