"""When a running daemon walks its folders again: every ``watch.rescan_interval`` (events get
lost), soon after a scan the job table refused, and every ``watch.network_scan_interval``
(a tenth either way, so a fleet does not walk a share at once) for the folders only a scan
sees (on a network share, or ``watch.mode: scan``)."""

from __future__ import annotations

import random

from ..config import FolderSettings, WatchSettings
from ..pipeline.watcher import Watcher

RESCAN_AFTER_TROUBLE = 30.0  # seconds: files a refused scan missed are looked for again


class Rescans:
    def __init__(self, watch: WatchSettings, now: float) -> None:
        self.next_all = now + watch.rescan_interval
        self.next_shares = now + self._share_interval(watch)
        self.soon = False  # a scan the job table refused is done again, rescans or not

    def due(self, watch: WatchSettings, watcher: Watcher, now: float) -> list[FolderSettings]:
        """Given the time, the folders to walk now (none: nothing is due)."""
        if (watch.rescan_interval or self.soon) and now >= self.next_all:
            self.next_all = now + (watch.rescan_interval or RESCAN_AFTER_TROUBLE)
            self.soon = False
            return list(watcher.folders)
        if now >= self.next_shares:
            self.next_shares = now + self._share_interval(watch)
            return watcher.scheduled()
        return []

    def refused(self, now: float) -> None:
        """A scan the job table refused: walk every folder again soon."""
        self.soon = True
        self.next_all = min(self.next_all, now + RESCAN_AFTER_TROUBLE)

    @staticmethod
    def _share_interval(watch: WatchSettings) -> float:
        return watch.network_scan_interval * random.uniform(0.9, 1.1)
