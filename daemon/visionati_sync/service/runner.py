"""Running the pipeline's stages, each in a thread of its own: a loop around one ``step()``
that returns whether it did something (then it steps again at once) or not (then it waits
its idle time, or until woken), or how many seconds it has nothing to do (the poller: until
its next poll is due). A stage whose step raises rests as long as ``on_error`` says
(the job table away: longer as the outage goes on), then carries on; stopping asks every
loop to end and waits for them, up to a grace period. A step that runs far longer than any
should is how a hung stage shows (``hung``: the watchdog asks); one resting is not hung."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..log import get_logger

log = get_logger("runner")

Step = Callable[[], bool | float]
AFTER_ERROR = 5.0  # seconds a stage rests after an unexpected error


def _log_error(stage: str, exc: Exception) -> float:
    log.error("unexpected error; carrying on", stage=stage, exc_info=exc)
    return AFTER_ERROR


class Runner:
    """``on_error`` hears of anything a step raises and says how many seconds the stage
    rests before it goes on (woken early by ``wake``); it may stop the runner when going
    on cannot help."""

    def __init__(self, on_error: Callable[[str, Exception], float] = _log_error) -> None:
        self.on_error = on_error
        self.stop = threading.Event()
        self._wake: dict[str, threading.Event] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._busy_since: dict[str, float] = {}  # stage → when its current step began
        self._ended: set[str] = set()  # stages ended on their own (``end``)

    def _event(self, name: str) -> threading.Event:
        with self._lock:
            return self._wake.setdefault(name, threading.Event())

    def wake(self, name: str) -> None:
        """Tell a stage there is work for it now, rather than after its idle time."""
        self._event(name).set()

    def wake_all(self) -> None:
        """Tell every stage to try again now (the job table is back)."""
        with self._lock:
            for event in self._wake.values():
                event.set()

    def start(self, name: str, step: Step, idle: float) -> None:
        """Run ``step`` in a thread named ``name`` until stopped."""
        thread = threading.Thread(target=self._loop, args=(name, step, idle), name=name)
        thread.daemon = True
        thread.start()
        self._threads.append(thread)

    def end(self, name: str, grace: float) -> bool:
        """End one stage (after its current step), the others going on; wait up to
        ``grace`` seconds for it. Returns whether it has ended."""
        self._ended.add(name)
        self.wake(name)
        for thread in self._threads:
            if thread.name == name:
                thread.join(timeout=grace)
                return not thread.is_alive()
        return True

    def _loop(self, name: str, step: Step, idle: float) -> None:
        wake = self._event(name)
        while not self.stop.is_set() and name not in self._ended:
            self._busy_since[name] = time.monotonic()
            try:
                busy = step()
            except Exception as exc:
                busy = self.on_error(name, exc)  # rest this long, or until woken from now
                wake.clear()
            finally:
                self._busy_since.pop(name, None)
            if busy is True:
                continue
            wake.wait(idle if busy is False else float(busy))
            wake.clear()

    def hung(self, after: float) -> list[str]:
        """The stages whose current step has run for more than ``after`` seconds (a stage
        waiting for work, or between steps, is not hung); a dead thread counts too."""
        now = time.monotonic()
        stuck = [name for name, since in list(self._busy_since.items()) if now - since > after]
        dead = [
            t.name
            for t in self._threads
            if not t.is_alive() and not self.stop.is_set() and t.name not in self._ended
        ]
        return sorted(set(stuck + dead))

    def shutdown(self, grace: float) -> None:
        """Stop every stage; wait up to ``grace`` seconds in all for them to finish a step."""
        self.stop.set()
        self.wake_all()
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(timeout=max(0.1, deadline - time.monotonic()))
