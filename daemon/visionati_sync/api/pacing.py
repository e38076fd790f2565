"""When to poll a request: first when the API is likely done with it, learnt from how long it
took with recent requests under the same options, rather than a whole ``api.poll_interval``
after sending; then soon again if it is not done yet, and every ``poll_interval`` once it is
clearly late. Never sooner than a second apart (the allowance of the documentation, per
request), unless the user set ``poll_interval`` lower than that.

A request found done at its first poll may have been done long before: its time is recorded
as half (a probe), so that the first poll comes down quickly towards the API's latency; one
found not done records the middle of the second between its last two polls. The first poll is
the 80th percentile of the recent records: most requests are done by then, few wait a
second more. Learnt in memory, per daemon; with nothing learnt yet, the first poll comes a
second after sending (a poll costs nothing), then every ``poll_interval``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

FLOOR = 1.0  # seconds between two polls of one request, at the least
PROBE = 0.5  # a request done at its first poll: recorded as done this much sooner
WINDOW = 20  # the recent requests learnt from, per option set
QUANTILE = 0.8


@dataclass
class PollPacer:
    interval: float  # api.poll_interval
    _done: dict[str, deque[float]] = field(default_factory=dict)  # options → seconds
    _missed: dict[str, float] = field(default_factory=dict)  # request → last not-done poll
    # the submitter reads what the poller learns, each in its own thread
    _lock: threading.Lock = field(default_factory=threading.Lock)
    clock: Callable[[], float] = time.monotonic
    _calm_since: float = -math.inf  # requests sent before this waited on us, not the API

    @property
    def floor(self) -> float:
        return min(FLOOR, self.interval)

    def first_poll(self, options: str) -> float:
        """Given a request's option fingerprint, seconds after sending to poll it first."""
        expected = self.expected(options)
        return self.floor if expected is None else max(self.floor, expected)

    def expected(self, options: str) -> float | None:
        """How long the API recently took under these options (None: not known yet)."""
        with self._lock:
            ordered = sorted(self._done.get(options, ()))
        if not ordered:
            return None
        return ordered[min(len(ordered) - 1, int(QUANTILE * len(ordered)))]

    def not_done(self, request: str, options: str, elapsed: float) -> float:
        """Given a poll ``elapsed`` seconds after sending that found the request not done,
        seconds until the next poll: a second while it is due any moment (up to twice what
        the API takes), then ``poll_interval``."""
        with self._lock:
            self._missed[request] = elapsed
        expected = self.expected(options)
        if expected is not None and elapsed < 2 * expected:
            return self.floor
        return self.interval

    def completed(self, request: str, options: str, elapsed: float) -> None:
        """Given a request found done ``elapsed`` seconds after sending, learn from it
        (not from one sent before the job table came back: it waited on us)."""
        with self._lock:
            missed = self._missed.pop(request, None)
            if self.clock() - elapsed < self._calm_since:
                return
            took = (missed + elapsed) / 2 if missed is not None else elapsed * PROBE
            self._done.setdefault(options, deque(maxlen=WINDOW)).append(took)

    def disturbed(self) -> None:
        """The job table was away: the requests sent before now were polled late, and what
        they took says nothing of the API's pace."""
        with self._lock:
            self._calm_since = self.clock()
            self._missed.clear()

    def forget(self, request: str) -> None:
        """A request that ended otherwise (failed, lost): nothing to learn."""
        with self._lock:
            self._missed.pop(request, None)
