"""How long to wait before trying again: exponential backoff with jitter, capped."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    base: float = 2.0
    factor: float = 2.0
    cap: float = 600.0
    jitter: float = 0.25  # ± this fraction, so many clients do not retry in step

    def delay(
        self, attempt: int, *, at_least: float = 0.0, rng: Callable[[], float] = random.random
    ) -> float:
        """Given the number of failures so far (1 = first), return seconds to wait."""
        raw = min(self.cap, self.base * self.factor ** max(0, attempt - 1))
        spread = raw * self.jitter * (2 * rng() - 1)
        return max(at_least, min(self.cap, raw + spread))
