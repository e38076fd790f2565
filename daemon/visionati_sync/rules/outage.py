"""When the job table cannot be used for a while (PostgreSQL restarting, failing over, a
standby that takes no writes, the network to it down; SQLite locked by another program or
on a full disk): what the daemon waits for, since when, how long a stage rests between
tries, and when the table has been back long enough to judge other daemons by their leases.

Every stage meets the same outage; it is said once when it begins, once when what the
database says changes, and once when it ends, not once per stage per try. Decisions only:
the service logs and tells systemd (injectable clock).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

FIRST_REST = 0.5  # seconds a stage rests after its first failed try
MOST_REST = 30.0  # and never more, however long the outage (less with short leases)


class Outage:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.reason: str | None = None  # what the database said; None: it is usable
        self._state = ""  # what it is in: unreachable, read-only, locked, …
        self._began = 0.0
        self._back_at = clock()  # the daemon starts as if the table just came back

    def trouble(self, reason: str, state: str = "") -> bool:
        """Given what a try met (``reason``, in words, and the ``state`` the database is in),
        note it; True when that is news (an outage begins, or the database is in another
        state now: read-only after unreachable, say) and should be said."""
        with self._lock:
            news = self.reason is None or (state or reason) != (self._state or self.reason)
            if self.reason is None:
                self._began = self._clock()
            if news:
                self.reason, self._state = reason, state
            return news

    def cleared(self) -> float | None:
        """A try went through: the outage, if there was one, is over. Returns how long it
        lasted (None: there was none)."""
        with self._lock:
            if self.reason is None:
                return None
            self.reason, self._state = None, ""
            self._back_at = self._clock()
            return self._back_at - self._began

    def rest(self, lease_seconds: float) -> float:
        """How long a stage rests before it tries again: longer as the outage goes on, and
        never more than a third of a lease, so that the daemon renews its leases soon after
        the table is back, before another daemon takes its work."""
        with self._lock:
            lasted = self._clock() - self._began if self.reason is not None else 0.0
        return min(MOST_REST, lease_seconds / 3, max(FIRST_REST, lasted / 4))

    def settled(self, lease_seconds: float, server_uptime: float | None = None) -> bool:
        """Whether the table has been usable for a whole lease, as this daemon saw it and
        as its server has run (``server_uptime``; None: SQLite): only then may another
        daemon's lapsed work be taken back. Every daemon's leases lapse in an outage longer
        than a lease, and each gets one lease, from the end of it, to renew its own."""
        if server_uptime is not None and server_uptime < lease_seconds:
            return False
        with self._lock:
            return self.reason is None and self._clock() - self._back_at >= lease_seconds
