"""What each page shows, from the job table and the config: a card per waiting result (the
keywords it proposes, split from those the photo's sidecar already has), and the dashboard's
figures. No HTTP here: the app renders these."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..actions import ledger
from ..actions.status import report
from ..config import Config
from ..jobtable import JobTable
from ..jobtable.reviews import Filters
from ..records import Scope, WriteTask, shown
from ..rules.keywording import proposals
from ..sidecars import SidecarError, xmp, xmp_paths
from ..sidecars.atomic import Snapshot

PAGE = 50  # cards a page


@dataclass(frozen=True)
class Chip:
    key: str  # the keyword's identity: its path, casefolded (``visionati|dog``)
    word: str  # what it writes in dc:subject: the path's leaf
    path: str  # the whole path, as lr:hierarchicalSubject holds it
    score: float | None
    sources: list[str]  # the backends that proposed it
    known: bool  # the user's vocabulary has it


@dataclass(frozen=True)
class Card:
    job_id: int
    name: str
    folder: str  # the watched folder's own name, and the photo's subfolder in it
    modified: str  # the file's date, local, YYYY-MM-DD
    chips: list[Chip]  # proposed, new to this photo
    yours: list[str] = field(default_factory=list)  # already in its sidecar: the user's
    description: str = ""
    problem: str | None = None  # its sidecar cannot take a result (applying says the same)


def cards(tasks: Sequence[WriteTask], config: Config) -> list[Card]:
    """Given waiting results, each as a card."""
    return [card(task, config) for task in tasks]


def card(task: WriteTask, config: Config) -> Card:
    """Given a waiting result, what its card shows: the keywords it would add, apart from
    the ones its sidecar already holds (those are the user's, not ours to add)."""
    settings = config.sidecars_for(task.folder)
    image = Path(task.path)
    yours: list[str] = []
    problem = None
    paths = xmp_paths(image, settings)
    if paths:  # read as the writer reads it: never through a link, nor from a FIFO
        try:
            sidecar = paths[0][0]
            content = Snapshot.read(sidecar, limit=xmp.MAX_BYTES).content
            yours = xmp.summary(content, str(sidecar)).keywords
        except SidecarError as exc:
            problem = str(exc)
    have = {word.casefold() for word in yours}
    sources = _sources(task.asset)
    chips = [
        Chip(
            p.key,
            p.path[-1],
            "|".join(p.path),
            p.score,
            sources.get((p.label or "").casefold(), []),
            p.known,
        )
        for p in proposals(task.asset, config.keyword_rules(task.folder))
        if p.path[-1].casefold() not in have
    ]
    modified = datetime.fromtimestamp(task.mtime_ns / 1e9).strftime("%Y-%m-%d")
    where = os.path.join(os.path.basename(task.folder), os.path.dirname(task.relpath))
    return Card(
        task.job_id, shown(image.name), shown(where.rstrip("/")), modified, chips, yours,
        xmp.description_from_asset(task.asset, settings.description_sources) or "", problem,
    )  # fmt: skip


def _sources(asset: dict[str, Any]) -> dict[str, list[str]]:
    """Each tag's backends, by its name casefolded."""
    found: dict[str, list[str]] = {}
    tags = asset.get("tags")
    for name, detections in tags.items() if isinstance(tags, dict) else []:
        for detection in detections if isinstance(detections, list) else []:
            source = detection.get("source") if isinstance(detection, dict) else None
            if isinstance(source, str) and source not in found.setdefault(name.casefold(), []):
                found[name.casefold()].append(source)
    return found


def scopes(config: Config) -> list[Scope]:
    """Where the pages look: this config's folders, and nowhere else."""
    return [Scope(str(folder.path)) for folder in config.settings.folders]


def filters(folder: str | None, since: str | None, word: str | None) -> Filters:
    """Given the page's filter fields (as typed), the filters; a bad date is no filter."""
    when = None
    if since:
        try:
            when = datetime.strptime(since, "%Y-%m-%d").astimezone()
        except ValueError:
            when = None
    return Filters(folder or None, when, (word or "").strip() or None)


def dashboard(table: JobTable, config: Config) -> dict[str, Any]:
    """What the dashboard shows: `status --json`'s document, the work's pace, the ledger by
    day, and the failed files (with their ids, to retry)."""
    found = report(table.reports, config)
    now = datetime.now(UTC)
    counts = found["counts"]
    left = counts["pending"] + counts["submitted"]
    rate = table.reports.done_since(now - timedelta(minutes=10)) / 600
    days = ledger.group(table.reports.charges(now - timedelta(days=30)), "day")
    found["pace"] = {
        "files_per_minute": round(rate * 60, 1),
        "left": left,
        "eta_minutes": round(left / rate / 60) if rate > 0 and left else None,
        "in_flight_requests": len(table.requests.outstanding_ids()),
    }
    found["ledger"] = [{"day": line.key, "credits": line.credits} for line in days]
    found["failed"] = [
        {"job_id": row.id, "path": shown(row.path), "error": row.error or ""}
        for row in table.reports.recent_errors(limit=20)
        if row.state == "failed"
    ]
    found["folders"] = [shown(str(f.path)) for f in config.settings.folders]
    return found


def page_numbers(total: int, page: int) -> dict[str, int]:
    pages = max(1, -(-total // PAGE))
    return {"page": min(max(1, page), pages), "pages": pages, "total": total}
