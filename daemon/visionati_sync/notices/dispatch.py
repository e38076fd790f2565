"""One notifier's thread: wait until the writes have been quiet for ``notify.debounce``
seconds (or the oldest has waited ``notify.max_delay``), send everything waiting as one
batch, and on failure try again later, each time waiting longer (``Backoff``), the notices
kept on disk meanwhile. It never touches the job table or the stages: a notifier down for a
day costs tagging nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from ..config import Config
from ..config.notify import NotifySettings
from ..log import get_logger
from ..places import state_directory
from ..rules.retry import Backoff
from .command import Command
from .http import NoticeError
from .immich import Immich
from .outbox import Outbox, Written
from .photoprism import PhotoPrism
from .webhook import Webhook

log = get_logger("notices")


class Sender(Protocol):
    name: str

    def send(self, entries: Sequence[Written]) -> str: ...


class Dispatcher:
    def __init__(
        self,
        outbox: Outbox,
        sender: Sender,
        settings: NotifySettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.sender = sender
        self.settings = settings
        self.clock = clock
        self.backoff = Backoff(base=settings.retry_base_delay, cap=settings.retry_max_delay)
        self.failures = 0  # in a row
        self.retry_at = 0.0
        self.hurry = False  # a scan ending: send what waits without waiting for quiet

    @property
    def name(self) -> str:
        return self.sender.name

    def pending(self) -> int:
        """Notices waiting (not files: one notice holds a batch of written files)."""
        return len(self.outbox.waiting(self.name))

    def step(self) -> bool | float:
        """Send one batch if it is time; returns True (sent: look again), False (nothing
        waits) or the seconds until it may be time."""
        waiting = self.outbox.waiting(self.name)
        if not waiting:
            return False
        now = self.clock()
        if now < self.retry_at:
            return self.retry_at - now
        quiet = now - self.outbox.written_at(waiting[-1])
        held = now - self.outbox.written_at(waiting[0])
        settings = self.settings
        if not self.hurry and quiet < settings.debounce and held < settings.max_delay:
            return max(0.05, min(settings.debounce - quiet, settings.max_delay - held))
        with self.outbox.sending(self.name, settings.batch_max) as batch:
            if batch.entries:
                try:
                    said = self.sender.send(batch.entries)
                except NoticeError as exc:
                    if not exc.permanent:
                        return self._failed(str(exc), len(batch.entries))
                    log.error("notification dropped: sending it again cannot help",
                              notifier=self.name, files=len(batch.entries),
                              error=str(exc))  # fmt: skip
                else:
                    log.info("photo manager told", notifier=self.name,
                             files=len(batch.entries), did=said)  # fmt: skip
                    if self.failures:
                        log.info("notifier back", notifier=self.name, failures=self.failures)
                    self.failures = 0
            self.outbox.taken(batch)
        return True

    def _failed(self, error: str, files: int) -> float:
        self.failures += 1
        delay = self.backoff.delay(self.failures)
        self.retry_at = self.clock() + delay
        report = log.warning if self.failures < 5 else log.error
        report("notification not delivered; kept, will retry", notifier=self.name, files=files,
               error=error, retry_in=round(delay, 1), failures=self.failures)  # fmt: skip
        return delay


def senders(settings: NotifySettings, secret: Callable[[str], str | None]) -> list[Sender]:
    """Given the notify section and each notifier's secret, a sender for each configured."""
    made: list[Sender] = []
    if settings.command is not None:
        made.append(Command(settings.command))
    if settings.webhook is not None:
        made.append(Webhook(settings.webhook, secret("webhook")))
    if settings.immich is not None:
        made.append(Immich(settings.immich, secret("immich")))
    if settings.photoprism is not None:
        made.append(PhotoPrism(settings.photoprism, secret("photoprism")))
    return made


class Notices:
    """Every configured notifier over one outbox: the writer ``put``s what it wrote, each
    dispatcher runs in a thread the service starts; ``wake`` tells one its notices wait."""

    def __init__(
        self,
        root: Path,
        settings: NotifySettings,
        secret: Callable[[str], str | None],
        wake: Callable[[str], None] = lambda name: None,
    ) -> None:
        made = senders(settings, secret)
        self.outbox = Outbox(root, [sender.name for sender in made])
        self.dispatchers = [Dispatcher(self.outbox, sender, settings) for sender in made]
        self.wake = wake

    @classmethod
    def of(cls, config: Config, wake: Callable[[str], None] = lambda name: None) -> Notices:
        """Given a config, its notifiers over this machine's outbox (the state directory's
        ``notices/``): the daemon's, a scan's, `apply`'s and `untag`'s are one outbox."""
        return cls(state_directory() / "notices", config.settings.notify, config.secret, wake)

    def put(self, written: Sequence[Written]) -> None:
        if written and self.dispatchers:
            self.outbox.put(written)
            for dispatcher in self.dispatchers:
                self.wake(dispatcher.name)

    def send_now(self) -> None:
        """Try each notifier once now, without waiting for quiet (a command's writes)."""
        for dispatcher in self.dispatchers:
            dispatcher.hurry = True
            while dispatcher.step() is True:
                pass

    def flush(self, stop: threading.Event, timeout: float) -> int:
        """Send what waits now, without waiting for quiet, for up to ``timeout`` seconds
        (a scan ending); returns how many notices are left for the next run."""
        deadline = time.monotonic() + timeout
        for dispatcher in self.dispatchers:
            dispatcher.hurry = True
            self.wake(dispatcher.name)
        while not stop.is_set() and time.monotonic() < deadline:
            left = sum(dispatcher.pending() for dispatcher in self.dispatchers)
            if not left:
                return 0
            stop.wait(0.1)
        return sum(dispatcher.pending() for dispatcher in self.dispatchers)
