"""systemd's notify protocol, without libsystemd: datagrams to ``$NOTIFY_SOCKET`` saying the
daemon is ready, what it is doing (``STATUS=``), that it is alive (``WATCHDOG=1``), reloading
or stopping. Outside systemd (no socket) every call does nothing.

See sd_notify(3): the address may be a path or, starting with ``@``, an abstract socket; the
watchdog interval is ``$WATCHDOG_USEC``, meant for us when ``$WATCHDOG_PID`` is unset or ours.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Mapping

from ..log import get_logger

log = get_logger("notify")


class Notifier:
    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        address = environ.get("NOTIFY_SOCKET", "")
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_interval = _watchdog_interval(environ)
        self._socket: socket.socket | None = None
        self._last_status = ""

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, *lines: str) -> bool:
        """Given ``KEY=value`` lines, send them as one datagram; returns whether it went.
        Trouble sending is logged once and never stops the daemon."""
        if not self.address:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.setblocking(False)  # a listener that reads nothing never stops us
            self._socket.sendto("\n".join(lines).encode(), self.address)
            return True
        except BlockingIOError:
            return False  # its queue is full: dropped; what must be said is said again
        except OSError as exc:
            log.warning("cannot notify systemd; going on without", error=str(exc))
            self.address = ""
            return False

    def ready(self, status: str | None = None) -> None:
        self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> None:
        """Say what the daemon is doing (``systemctl status`` shows it); sent on change, and
        again until it has gone (a listener's full queue drops a datagram)."""
        if text != self._last_status and self.send(f"STATUS={text}"):
            self._last_status = text

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def reloading(self) -> None:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self, extend_seconds: float) -> None:
        """Stopping, and how much longer than the unit's stop timeout finishing may take."""
        self.send("STOPPING=1", f"EXTEND_TIMEOUT_USEC={int(extend_seconds * 1_000_000)}")

    def close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
            self._socket = None


def _watchdog_interval(environ: Mapping[str, str]) -> float | None:
    """Given the environment, how often to say we are alive (half the watchdog's timeout),
    or None when no watchdog watches this process."""
    usec, pid = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 2_000_000
