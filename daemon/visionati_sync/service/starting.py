"""Starting a daemon or a scan: waiting for the job table while it cannot be used (saying so,
the watchdog fed), and the signals each answers."""

from __future__ import annotations

import faulthandler
import queue
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError

from ..config import Config
from ..jobtable.engine import trouble
from ..log import get_logger
from ..rules.outage import Outage
from .announce import waiting_status
from .notify import Notifier

log = get_logger("service")
T = TypeVar("T")


class Stopped(Exception):
    """Stopped (SIGTERM, Ctrl-C) while waiting for the job table, before starting."""


def wait_out(
    action: Callable[[], T],
    config: Config,
    outage: Outage,
    notifier: Notifier,
    stop: threading.Event,
) -> T | None:
    """Given what starting the daemon does with the job table, do it, waiting out trouble
    that waiting helps: said once per change, in the journal and in systemd's status (the
    daemon is up: ``READY=1``, so that systemd's start timeout does not kill it), with the
    watchdog fed, since waiting is not hanging. None if ``stop`` was set meanwhile."""
    lease = config.settings.database.lease_seconds
    while not stop.is_set():
        try:
            return action()
        except SQLAlchemyError as exc:
            known = trouble(exc, config.database_url())
            if known is None or not known.passing:
                raise
            if outage.trouble(known.message, known.state):
                log.warning("waiting for the job table: " + known.message)
                notifier.ready(waiting_status(known.message))
        deadline = time.monotonic() + outage.rest(lease)
        while not stop.is_set() and time.monotonic() < deadline:
            if notifier.watchdog_interval is not None:
                notifier.watchdog()
            stop.wait(min(1.0, max(0.0, deadline - time.monotonic())))
    return None


# A signal handler runs in the main thread between any two of its steps, perhaps while that
# thread holds a lock: one that logged waited for ever on the log's lock of the line it had
# interrupted (a SIGTERM hung the daemon so), and ``Event.set`` takes a lock too. The handler
# only puts the signal in a queue that may be written from a handler; a thread of its own
# says it and acts on it.
_received: queue.SimpleQueue[tuple[str, Callable[[], None]]] = queue.SimpleQueue()
_answering: list[threading.Thread] = []


def _answer_signals() -> None:
    while True:
        name, action = _received.get()
        log.info("signal received", signal=name)
        action()


def install_signals(stop: Callable[[], None], reload: threading.Event | None = None) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        action = reload.set if signum == signal.SIGHUP and reload is not None else stop
        _received.put((signal.Signals(signum).name, action))

    if threading.current_thread() is threading.main_thread():
        if not _answering:
            _answering.append(threading.Thread(target=_answer_signals, name="signals", daemon=True))
            _answering[0].start()
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        if reload is not None:
            signal.signal(signal.SIGHUP, handler)
        # `kill -USR1`: every thread's stack to stderr (the journal), for a daemon that hangs
        faulthandler.register(signal.SIGUSR1, all_threads=True)
