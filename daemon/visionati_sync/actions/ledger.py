"""Where the credits went (`costs`): every request the API took, grouped by the day it was
sent, the folders its files came from, or the options it asked with.

A request's credits are what the API charged (``credits_paid``), or, while it is still with
the API, what the price table said (the budget counts it so too). A request of files from
two folders is shared between them by their files, in whole credits that add up to the
request's. The grouping is a pure function of the charges ``Reports.charges`` reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ..records import Charge

Grouping = Literal["day", "folder", "options"]
NOT_RECORDED = "(not recorded)"  # requests sent before the ledger kept their folders


@dataclass
class CostLine:
    key: str  # the day (YYYY-MM-DD, local), the folder, or the option set
    label: str  # what the key means, in words (the options, for an option set)
    requests: int = 0
    files: int = 0
    credits: int = 0

    @property
    def dollars(self) -> float:
        return round(self.credits / 100, 2)

    @property
    def credits_per_file(self) -> float:
        return round(self.credits / self.files, 2) if self.files else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "dollars": self.dollars, "credits_per_file": self.credits_per_file}


def describe(options: dict[str, Any]) -> str:
    """Given a request's options, them in a few words."""
    features = "+".join(options.get("features") or ()) or "every feature"
    backends = "+".join(options.get("backends") or ()) or "the default backends"
    extras = [f"role {options['role']}"] if options.get("role") not in (None, "general") else []
    if options.get("prompt"):
        extras.append("a custom prompt")
    if options.get("language") not in (None, "English"):
        extras.append(str(options["language"]))
    return f"{features} with {backends}" + (f" ({', '.join(extras)})" if extras else "")


def split(credits: int, shares: dict[str, int]) -> dict[str, int]:
    """Given credits and each part's share (files), whole credits per part, adding up to
    ``credits``: each its floor, the remainder to the largest fractions (ties by name)."""
    total = sum(shares.values())
    if total <= 0:
        return dict.fromkeys(shares, 0)
    exact = {name: credits * n / total for name, n in shares.items()}
    whole = {name: int(value) for name, value in exact.items()}
    left = credits - sum(whole.values())
    for name in sorted(exact, key=lambda n: (whole[n] - exact[n], n))[:left]:
        whole[name] += 1
    return whole


def total(charges: Iterable[Charge]) -> CostLine:
    """Given charges, all of them on one line."""
    line = CostLine("total", "total")
    for charge in charges:
        line.requests += 1
        line.files += charge.files
        line.credits += charge.credits
    return line


def group(charges: Iterable[Charge], by: Grouping) -> list[CostLine]:
    """Given charges, the cost of each day, folder or option set, in order."""
    lines: dict[str, CostLine] = {}

    def line(key: str, label: str) -> CostLine:
        return lines.setdefault(key, CostLine(key, label))

    for charge in charges:
        if by == "day":
            day = charge.sent_at.astimezone().date().isoformat()
            parts = {day: (charge.files, charge.credits, day)}
        elif by == "options":
            label = describe(charge.options)
            parts = {charge.options_fp: (charge.files, charge.credits, label)}
        else:
            folders = charge.folders or {NOT_RECORDED: charge.files}
            credits = split(charge.credits, folders)
            parts = {name: (n, credits[name], name) for name, n in folders.items()}
        for key, (files, credits_, label) in parts.items():
            entry = line(key, label)
            entry.requests += 1
            entry.files += files
            entry.credits += credits_
    return sorted(lines.values(), key=lambda entry: entry.key)
