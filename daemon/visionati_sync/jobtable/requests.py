"""Requests: what went to the API and is with it now. Once the API took a request (and its
credits) it is recorded in place of its reservation (``mark_submitted``), with its files and
the copies that wait for its result; copies that arrive while it is in flight ride on it
(``in_flight``, ``ride``); a daemon's in-flight cap counts the ones it sent (``outstanding``),
and those of a daemon gone (``adopt``). ``polls`` follows them until they end."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update

from ..api.options import RequestOptions
from ..records import State, Upload
from . import transitions as t
from .base import TablePart, dialect_insert
from .results import SENT, sent_of
from .schema import OUTSTANDING, ApiRequest, Job


class Requests(TablePart):
    # -- the results cache -----------------------------------------------------------------

    # -- requests in flight ----------------------------------------------------------------

    def outstanding(self) -> int:
        """How many requests the API holds for this daemon now (its in-flight cap counts
        these; every daemon of a fleet has its own)."""
        return len(self.outstanding_ids())

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
            named = SENT | {"upload_name": bindparam("upload_name")}
            values = t.submitted(now, request_id) | named
            each = [sent_of(u) | {"upload_name": u.upload_name} for u in uploads]
            mine = (Job.id == bindparam("job_id"), Job.locked_by == self.worker)
            t.apply(conn, t.SUBMIT, values, *mine, many=each)
            moved = set(conn.execute(select(Job.id).where(Job.request_id == request_id)).scalars())
            lost = [params for params in each if params["job_id"] not in moved]
            if lost:  # as sent: the same size and mtime
                as_sent = (Job.size == bindparam("file_size"), Job.mtime_ns == bindparam("mtime"))
                t.apply(conn, t.ATTACH, values, Job.id == bindparam("job_id"), *as_sent, many=lost)
            _ride(conn, riders, request_id, now, self.worker)
        return True


def _ride(conn: Any, riders: Sequence[Upload], request_id: str, now: datetime, worker: str) -> None:
    t.apply(
        conn, t.RIDE, t.submitted(now, request_id, uploaded=False) | SENT,
        Job.id == bindparam("job_id"), Job.locked_by == worker, many=[sent_of(u) for u in riders],
    )  # fmt: skip
