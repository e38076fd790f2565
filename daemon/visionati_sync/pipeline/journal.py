"""Uploads the API has answered that the job table has not recorded yet, on local disk.

Once the API takes a request it has taken its credits: forgetting it (the database away when
it came to be written down, then a kill) means paying for its files again. So the answer is
written here first, fsynced, and only then to the job table; an entry goes once the table
has it. The submitter records its own entries before it uploads anything more (uploads wait
while the database cannot record them); a start records those of this machine's workers that
ended without doing so. Recording twice does nothing (``Requests.mark_submitted``).

One file per answered upload in ``<state directory>/journal``, named for its worker, written
whole (temporary name, fsync, rename, fsync of the folder): a kill at any moment leaves the
entry whole or absent. ``record_paid`` writes one into the job table; ``replay`` records a
journal's entries.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..api.answers import Completed
from ..api.options import RequestOptions
from ..jobtable import JobTable
from ..log import get_logger
from ..records import Upload
from .poller import record_completion

log = get_logger("journal")


@dataclass(frozen=True)
class PaidUpload:
    """What the job table needs to record an answered upload: the request, its files as
    sent, the copies waiting on it, the reservation it replaces, and the answer itself when
    the API answered at once."""

    request_id: str
    response_uri: str | None
    options: dict[str, Any]
    uploads: list[Upload]
    riders: list[Upload] = field(default_factory=list)
    reservation: str | None = None
    credits_estimated: int | None = None
    first_poll_in: float = 0.0
    completed: Completed | None = None

    @property
    def request_options(self) -> RequestOptions:
        return RequestOptions.from_dict(self.options)

    def as_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PaidUpload:
        data = json.loads(text)
        completed = data.pop("completed")
        return cls(
            **data
            | {
                "uploads": [Upload(**u) for u in data["uploads"]],
                "riders": [Upload(**u) for u in data["riders"]],
                "completed": None if completed is None else Completed(**completed),
            }
        )


class Journal:
    """Given a folder and this process's worker id, its entries and those it may replay."""

    def __init__(self, folder: Path, worker: str) -> None:
        self.folder = folder
        self.worker = worker

    def write(self, paid: PaidUpload) -> Path:
        """Keep ``paid`` on disk, durably, before anything else is done with it."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.folder / f"{self.worker}.{uuid.uuid4().hex}.json"
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, paid.as_json().encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
        folder = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        return path

    def done(self, path: Path) -> None:
        """The job table has recorded this entry: it goes."""
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def entries(self, ended: Callable[[str], bool] | None = None) -> list[tuple[Path, PaidUpload]]:
        """This worker's entries; or, given ``ended``, those of the workers it says have
        ended (their journal is this machine's to record, and no one else's: the submitter
        records its own). The oldest first. One that cannot be read is set aside
        (``.unreadable``) and named in the log: its request stays unrecorded."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.glob("*.json"):
            owner = path.name.split(".", 1)[0]
            if (owner == self.worker) != (ended is None) or (ended and not ended(owner)):
                continue
            try:
                paid = PaidUpload.from_json(path.read_text())
                found.append((path.stat().st_mtime_ns, path, paid))
            except FileNotFoundError:
                continue  # recorded meanwhile
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.error(
                    "a journal entry cannot be read; set aside, its request is not recorded",
                    path=str(path), error=str(exc),
                )  # fmt: skip
                with contextlib.suppress(OSError):
                    path.rename(path.with_suffix(".unreadable"))
        return [(path, paid) for _, path, paid in sorted(found, key=lambda item: item[:2])]


def record_paid(
    table: JobTable, paid: PaidUpload, *, retry_delay: float, max_attempts: int
) -> None:
    """Given an answered upload, record it in the job table (again does nothing), and its
    result when the API answered at once."""
    table.requests.mark_submitted(
        paid.request_id, paid.response_uri, paid.request_options, paid.uploads,
        first_poll_in=paid.first_poll_in, credits_estimated=paid.credits_estimated,
        riders=paid.riders, reservation=paid.reservation,
    )  # fmt: skip
    if paid.completed is not None:
        record_completion(
            table.polls, paid.request_id, paid.completed,
            retry_delay=retry_delay, max_attempts=max_attempts,
        )  # fmt: skip


def replay(
    journal: Journal,
    table: JobTable,
    ended: Callable[[str], bool] | None = None,
    *,
    retry_delay: float,
    max_attempts: int,
) -> int:
    """Given a journal, record its worker's entries (or, given ``ended``, those of the
    workers it says have ended), each removed once recorded; raises while the job table
    cannot record. Returns how many were recorded."""
    entries = journal.entries(ended)
    for path, paid in entries:
        record_paid(table, paid, retry_delay=retry_delay, max_attempts=max_attempts)
        journal.done(path)
        log.warning(
            "recorded an upload the API answered while the job table could not record it; "
            "nothing is paid again", request_id=paid.request_id, files=len(paid.uploads),
        )  # fmt: skip
    return len(entries)
