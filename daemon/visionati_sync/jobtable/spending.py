"""Spending: a request is first a reservation (``sending``: its estimated credits), taken under
a lock every daemon's reservation takes, so daemons racing for the last credits of a budget
cannot overspend; the request recorded once the API took it replaces it (``Requests``), and
one that did not go is dropped."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, insert

from .base import TablePart, serialise
from .reports import committed_since
from .schema import SENDING, ApiRequest

Committed = Callable[[datetime | None], int]  # credits the fleet committed since a time


class Spending(TablePart):
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
