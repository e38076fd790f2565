"""How a `scan` shows where it is: a live display on a terminal (files done of total, files
per second, time left, credits spent), plain periodic log lines when not on one."""

from __future__ import annotations

import time
from typing import Any, TextIO

from ..log import get_logger
from ..records import Reporter

log = get_logger("progress")


class LiveReporter:
    """A progress bar for people watching a terminal."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console  # only on a terminal: a service never loads it
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        self._started = time.monotonic()
        self._progress = Progress(
            TextColumn("tagging"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]:.1f} files/s"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[credits]} credits"),
            console=Console(file=stream),
            transient=False,
        )
        self._task = self._progress.add_task("scan", total=None, rate=0.0, credits=0)
        self._progress.start()

    def update(self, done: int, total: int, credits: int) -> None:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        self._progress.update(
            self._task, completed=done, total=total, rate=done / elapsed, credits=credits
        )

    def close(self) -> None:
        self._progress.stop()


class LogReporter:
    """A log line every ``interval`` seconds, for journald and files."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._started = time.monotonic()
        self._last = 0.0
        self._state: tuple[int, int, int] = (0, 0, 0)
        self._closed = False

    def update(self, done: int, total: int, credits: int) -> None:
        self._state = (done, total, credits)
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._emit(now)

    def _emit(self, now: float) -> None:
        done, total, credits = self._state
        elapsed = max(now - self._started, 1e-6)
        rate = done / elapsed
        fields: dict[str, Any] = {  # finished: tagged, skipped or failed
            "finished": done, "total": total, "files_per_second": round(rate, 2),
            "credits": credits,
        }  # fmt: skip
        if rate > 0 and total > done:
            fields["eta_seconds"] = round((total - done) / rate)
        log.info("progress", **fields)

    def close(self) -> None:
        if not self._closed:  # once, before the scan's last word
            self._closed = True
            self._emit(time.monotonic())


def reporter_for(stream: TextIO, interval: float = 10.0) -> Reporter:
    return LiveReporter(stream) if stream.isatty() else LogReporter(interval)
