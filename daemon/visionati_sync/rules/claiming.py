"""How many files the submitter claims at once: a request's worth (``api.batch_size``), and
more while the results cache serves every file claimed (a library of copies is then served in
fewer, larger transactions: twice as many each time, up to ``MOST``); back to a request's
worth as soon as a file has to go. However many are claimed, a request carries at most
``api.batch_size`` (``policy.batch_for``)."""

from __future__ import annotations

from dataclasses import dataclass, field

MOST = 64  # files claimed at once while the cache serves them all


@dataclass
class ClaimSize:
    batch_size: int  # api.batch_size
    most: int = MOST
    now: int = field(init=False)

    def __post_init__(self) -> None:
        self.now = self.batch_size

    def after(self, claimed: int, served: int) -> int:
        """Given how many files a step claimed and how many of them the cache served, the
        claim of the next step."""
        full = claimed > 0 and served == claimed
        self.now = min(self.most, max(self.now, self.batch_size) * 2) if full else self.batch_size
        return self.now
