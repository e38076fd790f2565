"""How much the next request may spend: the daily and total caps a user set.

Spending is what requests cost, across every daemon on the job table: ``credits_paid`` once
they complete, the price-table estimate while they are outstanding or being sent. The day is
the local calendar day; a daily cap resumes at the next local midnight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..jobtable import Reports
from ..records import Clock, local_midnight, utcnow

Committed = Callable[[datetime | None], int]  # credits committed since a time (None: ever)


@dataclass(frozen=True)
class Allowance:
    credits: int | None  # None: no cap applies
    reason: str | None = None  # why it is this small (for `status`)
    resumes_at: datetime | None = None  # when more is allowed again (None: not by itself)

    def wait_seconds(self, now: datetime) -> float:
        """Given the time, how long until more may be spent (an hour when only the user can
        lift the cap: the gate looks again then, after a config change)."""
        if self.resumes_at is None:
            return 3600.0
        return max(1.0, (self.resumes_at - now).total_seconds())


class Budget:
    def __init__(
        self, reports: Reports, per_day: int | None, total: int | None, clock: Clock = utcnow
    ) -> None:
        self.reports = reports
        self.per_day = per_day
        self.total = total
        self.clock = clock

    def allowance(self, committed: Committed | None = None) -> Allowance:
        """Return how many credits may still be spent now, and which cap binds, given the
        credits committed since a time (by default, as the job table says now; the submitter
        passes the count it reads under the fleet's spending lock)."""
        if self.per_day is None and self.total is None:
            return Allowance(None)
        spent_since = committed or self.reports.credits_committed
        now = self.clock().astimezone()  # local time: a day is the user's day
        choices: list[Allowance] = []
        if self.per_day is not None:
            midnight = local_midnight(now)
            spent = spent_since(midnight)
            tomorrow = midnight + timedelta(days=1)
            choices.append(
                Allowance(
                    max(0, self.per_day - spent),
                    f"daily budget of {self.per_day} credits reached ({spent} spent today); "
                    f"uploads resume at {tomorrow:%Y-%m-%d %H:%M}",
                    tomorrow,
                )
            )
        if self.total is not None:
            spent = spent_since(None)
            choices.append(
                Allowance(
                    max(0, self.total - spent),
                    f"total budget of {self.total} credits reached ({spent} spent); "
                    "raise api.max_credits_total to go on",
                )
            )
        return min(choices, key=lambda a: a.credits if a.credits is not None else 1 << 62)

    def stops_uploads(self, per_image: int) -> str | None:
        """Given what one file costs, why not even one more may go (a cap reached), or
        None: `status` says so after the scan the cap stopped has ended."""
        allowance = self.allowance()
        if allowance.credits is not None and allowance.credits < per_image:
            return allowance.reason
        return None
