"""What `status` reports, and the dashboard shows: the job table's counts, spend and
errors, with the caps of this config and a pause the caps would cause even while no
process is paused now."""

from __future__ import annotations

from typing import Any

from ..config import Config
from ..jobtable import Reports
from ..pipeline.budget import Budget


def report(reports: Reports, config: Config) -> dict[str, Any]:
    """Given the job table's reports and the config, `status --json`'s document."""
    found = reports.status()
    api = config.settings.api
    if found["paused"] is None:  # no process is paused now; a cap stops the next one
        budget = Budget(reports, api.max_credits_per_day, api.max_credits_total)
        if reason := budget.stops_uploads(api.request_options().credits_per_image()):
            found["paused"] = {"kind": "budget", "reason": reason}
    found["caps"] = {"per_day": api.max_credits_per_day, "total": api.max_credits_total}
    return found
