"""What the job table holds, as plain values: the states a file goes through and the records
the stages pass around. No database here, so the parts that only look at files (scanner,
watcher, selection, sidecars) never load SQLAlchemy.

States: ``pending`` → ``claimed`` (a worker is reading and uploading it) → ``submitted`` (in
an API request) → ``writing`` (the result is stored, sidecars not yet written) → ``done``; or
``failed`` / ``skipped`` with the reason; where results are reviewed first, ``review`` until
the user applies them; ``untagged`` once the user took our tags back. Users see ``claimed``
as pending and ``writing`` as submitted: both are internal. ``jobtable/transitions.py`` says
which state may follow which.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

Clock = Callable[[], datetime]

_UNSHOWABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: str) -> str:
    """Given text from the API, drop what XML cannot hold (control characters): what goes
    into a sidecar, and what `preview` says would."""
    return _NOT_XML.sub("", value)


def shown(text: str) -> str:
    """Given a path or a name as ``os`` gives it (bytes that are not UTF-8 carried as
    surrogates), the form shown to people and written into logs, the job table's messages
    and sidecars: each such byte as ``\\xNN``, a control character (a newline in a name) as
    ``\\n``, ``\\t`` or ``\\xNN``; everything else as it is. Never raises."""
    if not _UNSHOWABLE.search(text):
        return text  # nearly every name: nothing to do
    return _UNSHOWABLE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if "\udc80" <= char <= "\udcff":  # a byte os could not decode
        return f"\\x{ord(char) - 0xDC00:02x}"
    if "\ud800" <= char <= "\udfff":  # any other lone surrogate (from text, not a name)
        return f"\\u{ord(char):04x}"
    return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(char, f"\\x{ord(char):02x}")


def utcnow() -> datetime:
    return datetime.now(UTC)


def local_midnight(now: datetime) -> datetime:
    """Given a time, the start of its day on this machine's clock (the day a daily cap and
    `status`'s "today" count)."""
    return now.astimezone().replace(hour=0, minute=0, second=0, microsecond=0)


class State(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    SUBMITTED = "submitted"
    WRITING = "writing"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    REVIEW = "review"  # its result is stored and waits for the user's `apply`
    UNTAGGED = "untagged"  # the user took our tags back: left alone until asked again

    @property
    def visible(self) -> State:
        """The state as users see it: a claimed file is still pending to them, a file whose
        sidecars are being written is still submitted."""
        return _VISIBLE.get(self, self)

    @classmethod
    def internal(cls, visible: State) -> list[State]:
        """Given a state users see, every state that shows as it."""
        return [state for state in cls if state.visible == visible]


_VISIBLE = {State.CLAIMED: State.PENDING, State.WRITING: State.SUBMITTED}
VISIBLE_STATES = tuple(state for state in State if state.visible == state)


@dataclass(frozen=True)
class FolderNames:
    """Each watched folder's name in the job table, and back: daemons that mount one share
    at different paths give it one name, and so share its jobs. A folder with no name is
    known by its path."""

    by_path: dict[str, str] = field(default_factory=dict)

    def name(self, path: str) -> str:
        return self.by_path.get(path, path)

    def path(self, name: str) -> str:
        for path, known in self.by_path.items():
            if known == name:
                return path
        return name


@dataclass(frozen=True)
class Scope:
    """A part of the library: a folder, optionally only below a sub-path of it."""

    folder: str
    prefix: str = ""

    @staticmethod
    def starts(scopes: Sequence[Scope], folder: str) -> list[str]:
        """Given the scopes of a scan, where to start walking ``folder`` ("" = all of it)."""
        return [scope.prefix for scope in scopes if scope.folder == folder] or [""]


class FileSeen(NamedTuple):
    """A file found on disk (a tuple: a rescan makes one per file in the library)."""

    relpath: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ClaimedJob:
    """A job a worker has taken from the queue, to check, hash and upload."""

    id: int
    folder: str
    relpath: str
    size: int
    mtime_ns: int
    attempts: int
    faults: int = 0  # server faults its uploads met in a row
    batch_limit: int | None = None  # the largest request it may go in (None: any)
    refresh: bool = False  # the user asked the API again: no answer from the results cache

    @property
    def path(self) -> str:
        return os.path.join(self.folder, self.relpath)


@dataclass(frozen=True)
class Upload:
    """A claimed job as it went out in a request (or was served from the results cache).

    ``sha256`` is the content key the result is stored under (the file's hash, with how it
    was converted; for a RAW that shares its JPEG's result, the JPEG's); ``file_sha256`` is
    the file's own; ``sent`` says what went (the JSON sidecar's ``upload``). A video sent as
    frames goes by several names, one per line of ``upload_name``."""

    job_id: int
    upload_name: str
    sha256: str
    size: int
    mtime_ns: int
    file_sha256: str | None = None
    sent: dict[str, Any] | None = None

    @property
    def names(self) -> list[str]:
        return self.upload_name.split("\n") if self.upload_name else []


@dataclass(frozen=True)
class OutstandingRequest:
    """A request the API accepted and the poller follows."""

    id: str
    response_uri: str | None
    poll_failures: int
    submitted_at: datetime
    options_fp: str = ""  # its options' fingerprint: the API's pace is learnt per option set
    credits_estimated: int | None = None  # what the price table said it costs


@dataclass(frozen=True)
class Approval:
    """What a reviewer approved of a result: the keywords kept (their paths' keys,
    ``a|b`` casefolded) and the description as edited (None: none)."""

    kept: frozenset[str]
    description: str | None


@dataclass(frozen=True)
class WriteTask:
    """A job whose result is stored and whose sidecars are to be written."""

    job_id: int
    folder: str
    relpath: str
    size: int
    mtime_ns: int
    sha256: str  # the file's own
    request_id: str
    tagged_at: datetime
    options: dict[str, Any]
    asset: dict[str, Any]
    write_attempts: int = 0  # earlier tries the disk or the folder refused
    sent: dict[str, Any] | None = None  # what went to the API for it
    approved: bool = False  # the user applied it: written even where results are reviewed
    approval: Approval | None = None  # what the review page approved of it, if it was there

    @property
    def path(self) -> str:
        return os.path.join(self.folder, self.relpath)


@dataclass(frozen=True)
class JobRow:
    """A job as `jobs` and `status` show it: internal states folded into visible ones."""

    id: int
    path: str
    state: State
    attempts: int
    error: str | None
    request_id: str | None
    updated_at: datetime


@dataclass(frozen=True)
class Charge:
    """One request the API took, as the ledger sees it."""

    request_id: str
    sent_at: datetime  # aware
    options_fp: str
    options: dict[str, Any]
    files: int
    credits: int
    folders: dict[str, int] | None  # folder name → files (None: not recorded)


class Reporter(Protocol):
    """How a scan shows where it is: files finished of all, credits spent so far (a live
    display on a terminal, log lines elsewhere: ``commands/progress``)."""

    def update(self, done: int, total: int, credits: int) -> None: ...

    def close(self) -> None: ...
