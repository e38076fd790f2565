"""Whether uploads may go out now, and if not, why and until when.

A rejected key or an empty account stops all submissions at once (retrying each file would be
a storm); the gate re-checks rarely and cheaply, and tells `status` (through the job table)
why it is closed. The kinds of pause, and how each ends, are ``policy.PauseKind``.

A key or an account is the whole fleet's (``policy.FLEET_WIDE``): the daemon that meets the
rejection tells the job table, and every other daemon, before its next upload, checks for
itself at once (one free call) and pauses too; one that finds the trouble gone clears it for
all, and the others check again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..api.client import AccessDenied, ApiClient, ApiError, OutOfCredits
from ..jobtable import Reports
from ..log import get_logger
from ..rules.policy import FLEET_WIDE, Pause, PauseKind
from ..rules.retry import Backoff

log = get_logger("gate")

# A fault the API answered (a 5xx, an unreadable answer) is mostly one unlucky call: the next
# upload tries again soon, and only faults that go on make the waits long.
SERVER_FAULTS = Backoff(base=0.5, cap=30.0)


@dataclass
class Closed:
    kind: PauseKind
    reason: str
    until: float  # on the gate's clock


class Gate:
    def __init__(
        self,
        reports: Reports,
        *,
        auth_retry_interval: float,
        credit_check_interval: float,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        worker: str = "",
    ) -> None:
        self.reports = reports
        self.worker = worker or reports.worker  # whose pause it says
        self.auth_retry_interval = auth_retry_interval
        self.credit_check_interval = credit_check_interval
        self._clock = clock
        self._closed: Closed | None = None
        self._troubled = 0  # uploads in a row that could not reach the API or met a fault
        # the kinds of pause whose wait grows while the trouble goes on
        self._backoffs = {
            PauseKind.NETWORK: backoff or Backoff(base=2.0, cap=300.0),
            PauseKind.SERVER: SERVER_FAULTS,
        }

    @property
    def paused(self) -> Closed | None:
        return self._closed

    def pause(self, pause: Pause) -> None:
        """Close the gate for this reason, until the pause's time or the kind's interval."""
        seconds = pause.seconds
        if seconds is None:
            seconds = self._interval(pause.kind)
        if self._closed is None or self._closed.kind != pause.kind:
            log.error(
                "submissions paused", why=pause.kind, reason=pause.reason,
                recheck_in=round(seconds, 1),
            )  # fmt: skip
        self._closed = Closed(pause.kind, pause.reason, self._clock() + seconds)
        said = {"kind": pause.kind, "reason": pause.reason}
        self.reports.pause(self.worker, said)
        if pause.kind in FLEET_WIDE:
            self.reports.fleet_pause(said | {"by": self.worker})

    def _interval(self, kind: PauseKind) -> float:
        if kind == PauseKind.AUTH:
            return self.auth_retry_interval
        if kind == PauseKind.CREDITS:
            return self.credit_check_interval
        backoff = self._backoffs.get(kind)
        if backoff is not None:  # a longer wait each time it goes on
            self._troubled += 1
            return backoff.delay(self._troubled)
        return 60.0

    def reached(self) -> None:
        """An upload got an answer: the network is fine again."""
        self._troubled = 0

    def carry_over(self, previous: Gate) -> None:
        """Given the gate a reload replaced, keep its pause, to be re-checked at once (a new
        key, say, applies now)."""
        self._closed = previous._closed
        self._troubled = previous._troubled
        self.recheck_now()

    def recheck_now(self) -> None:
        """After a reload (a new key, say), re-check a pause at the next chance."""
        if self._closed is not None:
            self._closed.until = 0.0

    def is_open(self, client: ApiClient) -> bool:
        """Return whether uploads may go now; when a pause is due for a re-check, do it."""
        closed = self._closed
        fleet = self.reports.fleet_paused()
        if closed is None:
            if fleet is None or fleet.get("by") == self.worker:
                return True
            # an earlier run or another daemon found the key rejected or the account empty
            # (a scan is not a daemon, and a new process is a new worker): see for ourselves
            log.info("uploads were paused by an earlier run or another daemon; checking "
                     "whether that still holds", why=fleet["kind"], by=fleet.get("by"))  # fmt: skip
            closed = Closed(PauseKind(fleet["kind"]), fleet["reason"], 0.0)
        elif closed.kind in FLEET_WIDE and fleet is None:
            closed.until = 0.0  # another daemon found the trouble gone: check again now
        if self._clock() < closed.until:
            return False
        try:
            if closed.kind == PauseKind.AUTH:
                client.check_key()
            elif closed.kind == PauseKind.CREDITS and client.credits() <= 0:
                raise OutOfCredits("No credits.")
        except AccessDenied as exc:
            self.pause(Pause(PauseKind.AUTH, f"API key rejected: {exc.message}"))
            return False
        except OutOfCredits as exc:
            self.pause(Pause(PauseKind.CREDITS, f"out of credits: {exc.message}"))
            return False
        except ApiError as exc:
            self.pause(Pause(closed.kind, closed.reason, min(60.0, self.auth_retry_interval)))
            log.warning("re-check failed; trying again later", error=exc.message)
            return False
        log.info("submissions resumed" if self._closed else "uploads go on", after=closed.kind)
        self._closed = None
        self.reports.pause(self.worker, None)
        if closed.kind in FLEET_WIDE:
            self.reports.fleet_pause(None)
        return True
