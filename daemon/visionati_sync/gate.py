"""Whether uploads may go out now, and if not, why and until when.

A rejected key or an empty account stops all submissions at once (retrying each file would be
a storm); the gate re-checks rarely and cheaply, and tells `status` (through the job table)
why it is closed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .client import AccessDenied, ApiClient, ApiError, OutOfCredits
from .jobs import JobStore
from .log import get_logger
from .retry import Backoff

log = get_logger("gate")

STATE_KEY = "submissions_paused"


@dataclass
class _Pause:
    kind: str  # auth, credits, rate
    reason: str
    until: float


class Gate:
    def __init__(
        self,
        store: JobStore,
        *,
        auth_retry_interval: float,
        credit_check_interval: float,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.auth_retry_interval = auth_retry_interval
        self.credit_check_interval = credit_check_interval
        self._clock = clock
        self._pause: _Pause | None = None
        self._unreachable = 0  # consecutive failures to reach the API
        self._backoff = backoff or Backoff(base=2.0, cap=300.0)
        store.put_state(STATE_KEY, None)

    @property
    def paused(self) -> _Pause | None:
        return self._pause

    def close(self, kind: str, reason: str, seconds: float) -> None:
        if self._pause is None or self._pause.kind != kind:
            log.error("submissions paused", why=kind, reason=reason, recheck_in=round(seconds, 1))
        self._pause = _Pause(kind, reason, self._clock() + seconds)
        self.store.put_state(STATE_KEY, {"kind": kind, "reason": reason})

    def close_for_auth(self, reason: str) -> None:
        self.close("auth", f"API key rejected: {reason}", self.auth_retry_interval)

    def close_for_credits(self, reason: str) -> None:
        self.close("credits", f"out of credits: {reason}", self.credit_check_interval)

    def close_for_network(self, reason: str) -> None:
        """The API could not be reached: wait longer each time, up to five minutes."""
        self._unreachable += 1
        self.close("network", f"API unreachable: {reason}", self._backoff.delay(self._unreachable))

    def reached(self) -> None:
        """An upload got an answer: the network is fine again."""
        self._unreachable = 0

    def recheck_now(self) -> None:
        """After a reload (a new key, say), re-check a pause at the next chance."""
        if self._pause is not None:
            self._pause.until = 0.0

    def is_open(self, client: ApiClient) -> bool:
        """Return whether uploads may go now; when a pause is due for a re-check, do it."""
        pause = self._pause
        if pause is None:
            return True
        if self._clock() < pause.until:
            return False
        try:
            if pause.kind == "auth":
                client.check_key()
            elif pause.kind == "credits" and client.credits() <= 0:
                raise OutOfCredits("No credits.")
        except AccessDenied as exc:
            self.close_for_auth(exc.message)
            return False
        except OutOfCredits as exc:
            self.close_for_credits(exc.message)
            return False
        except ApiError as exc:
            self.close(pause.kind, pause.reason, min(60.0, self.auth_retry_interval))
            log.warning("re-check failed; trying again later", error=exc.message)
            return False
        log.info("submissions resumed", after=pause.kind)
        self._pause = None
        self.store.put_state(STATE_KEY, None)
        return True
