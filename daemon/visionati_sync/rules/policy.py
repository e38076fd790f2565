"""What a fault or a limit means for the files at hand: pure decisions, each from what
happened to what to do, so that the stages only carry them out and tests need no network.

Attempts belong to files, faults to the API. Only an answer about the files themselves (a
request that failed with them alone in it, a result missing for one, a refusal of one)
counts toward ``api.max_attempts``. Transport and server faults (5xx, 429, dropped
connections, timeouts, answers that are not JSON or not of the documented shape) say
nothing about the files: they pause uploads for all, and count as faults of the files in
the request only so that a file the API fails every time ends, after
``api.max_server_faults`` in a row. A batch the API refuses or fails as a whole is split in
halves until the one file at fault is alone (bisection).

- An upload the API refused: ``Release`` (back untouched, perhaps as a fault), ``Retry`` (a
  lone file counts an attempt), ``Split`` (a batch goes back in halves), ``Skip``; uploads
  may pause (``Pause``).
- A poll that failed: poll again soon (``PollLater``), give the request's files back
  (``Requeue``), or treat the request as failed (``FailRequest``). Polls are cheap and a
  result the API holds is paid for: a request is never given up while the API may still
  hold it.
- How many files of a batch one request may carry: the size cap, the budget, and the
  smallest batch any of them may be in since a batch of theirs failed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import TypeVar

from ..api.answers import (
    AccessDenied,
    ApiError,
    FileTooLarge,
    OutOfCredits,
    RequestFailed,
    RequestNotFound,
    TransientError,
)
from .retry import Backoff

T = TypeVar("T")
RESULTS_KEPT = timedelta(hours=24)  # how long the API keeps a request's result
POLL_FIRST_RETRY = 1.0  # seconds: a poll that met a fault is tried again this soon, at first


class PauseKind(StrEnum):
    """Why uploads are paused, and so how the pause ends."""

    AUTH = "auth"  # the key was rejected: re-checked now and then with a call that is free
    CREDITS = "credits"  # the account is empty: its balance is checked now and then
    NETWORK = "network"  # the API cannot be reached: a longer wait each time
    SERVER = "server"  # the API answered with a fault: a longer wait each time, as above
    RATE = "rate"  # HTTP 429: as long as the API asks
    BUDGET = "budget"  # a spending cap: until the next local day, or a config change


STOPS_A_SCAN = frozenset({PauseKind.AUTH, PauseKind.CREDITS, PauseKind.BUDGET})
# what holds for every daemon on the table, not only the one that met it: one key, one account
FLEET_WIDE = frozenset({PauseKind.AUTH, PauseKind.CREDITS})


@dataclass(frozen=True)
class Pause:
    kind: PauseKind
    reason: str
    seconds: float | None = None  # None: the gate's own interval for this kind


@dataclass(frozen=True)
class Release:
    """Back to the queue untouched: not the files' fault, no attempt counted. ``fault``:
    the API faulted while they were in the request (counted toward max_server_faults)."""

    delay: float = 0.0
    error: str | None = None  # shown by `jobs` while they wait
    fault: bool = False


@dataclass(frozen=True)
class Retry:
    """The API refused this file (alone in its request): an attempt, then tried again after
    a backoff, or failed for good after ``api.max_attempts``."""

    error: str


@dataclass(frozen=True)
class Split:
    """The API refused or failed a batch as a whole: its files go back in halves (no
    attempt), so that the one at fault ends alone."""

    error: str


@dataclass(frozen=True)
class Skip:
    """Not for the API (the one file in the request was too large)."""

    reason: str


@dataclass(frozen=True)
class UploadVerdict:
    files: Release | Retry | Split | Skip
    pause: Pause | None = None


def after_upload_error(exc: ApiError, files: int, backoff: Backoff) -> UploadVerdict:
    """Given the error an upload of ``files`` files met, what becomes of them and of uploads."""
    if isinstance(exc, AccessDenied):
        return UploadVerdict(
            Release(error=f"waiting: API key rejected ({exc.message})"),
            Pause(PauseKind.AUTH, f"API key rejected: {exc.message}"),
        )
    if isinstance(exc, OutOfCredits):
        return UploadVerdict(
            Release(error=f"waiting: {exc.message}"),
            Pause(PauseKind.CREDITS, f"out of credits: {exc.message}"),
        )
    if isinstance(exc, TransientError) and exc.http_status == 429:
        delay = exc.retry_after if exc.retry_after is not None else backoff.delay(1)
        return UploadVerdict(
            Release(delay=delay), Pause(PauseKind.RATE, "rate limited by the API", delay)
        )
    if isinstance(exc, TransientError) and exc.unreachable:
        return UploadVerdict(Release(), Pause(PauseKind.NETWORK, f"API unreachable: {exc.message}"))
    if isinstance(exc, TransientError):  # 5xx, a timeout, an answer we cannot read
        return UploadVerdict(
            Release(error=f"waiting: API fault ({exc.message})", fault=True),
            Pause(PauseKind.SERVER, f"API fault: {exc.message}", exc.retry_after),
        )
    if files > 1:  # refused as a whole: which file is it about?
        return UploadVerdict(Split(exc.message))
    if isinstance(exc, FileTooLarge):
        return UploadVerdict(Skip(exc.message))
    return UploadVerdict(Retry(exc.message))


def after_faults(faults: Sequence[int], max_faults: int) -> str:
    """Given how many faults in a row each file of a request has now met, what to do:
    ``wait`` (the API's trouble: back to the queue), ``split`` (a batch it faults every time:
    halves, to find the file it cannot process) or ``fail`` (that file, alone)."""
    if max(faults, default=0) < max_faults:
        return "wait"
    return "split" if len(faults) > 1 else "fail"


def smaller_batch(files: int) -> int | None:
    """Given how many files were uploaded in a request the API failed as a whole, the
    largest request each may go in now (None: it was alone; the failure is its own)."""
    return math.ceil(files / 2) if files > 1 else None


def batch_for(limits: Sequence[int | None], batch_size: int) -> int:
    """Given the batch limits of claimed files, the most restricted first, and
    ``api.batch_size``, how many of the first may go together: no more than any of them may
    be in, and never more than ``batch_size``, however many were claimed (the submitter
    claims more at once while the results cache serves every file)."""
    first = limits[0] if limits else None
    return min(len(limits), batch_size, batch_size if first is None else first)


@dataclass(frozen=True)
class PollLater:
    delay: float
    failure: bool = True  # a fault: the next delay grows; a good answer resets it


@dataclass(frozen=True)
class Requeue:
    """The request is lost to us: its files go back to the queue (an attempt each: it was
    paid for). Either the API no longer knows it, or it no longer can (``gave_up``)."""

    error: str
    gave_up: bool = False


@dataclass(frozen=True)
class FailRequest:
    """The API says the request failed: split if a batch, an attempt if a lone file."""

    error: str


def after_poll_error(
    exc: ApiError,
    failures: int,
    *,
    poll_interval: float,
    auth_retry_interval: float,
    age: timedelta,
) -> PollLater | Requeue | FailRequest:
    """Given the error a poll met, after ``failures`` faults in a row polling the same
    request, sent ``age`` ago, what to do about the request. A fault delays only this
    request's next poll: soon at first, never later than ``poll_interval`` (``Retry-After``
    is honoured); only the API forgetting the request, or the 24 hours it keeps results
    passing, gives it up."""
    if isinstance(exc, RequestNotFound):
        return Requeue(exc.message)
    if isinstance(exc, RequestFailed):
        return FailRequest(exc.message)
    if age >= RESULTS_KEPT:
        return Requeue(f"no answer in the 24 hours the API keeps results: {exc.message}", True)
    if isinstance(exc, AccessDenied):  # the key's problem, which the gate follows
        return PollLater(auth_retry_interval, failure=False)
    retry_after = exc.retry_after if isinstance(exc, TransientError) else None
    # most faults are one unlucky call: soon again, and never later than the usual rhythm
    # (polls are cheap; a run of faults must not leave a paid result waiting)
    delay = min(poll_interval, POLL_FIRST_RETRY * 2 ** min(failures, 10))
    return PollLater(max(delay, retry_after or 0.0))


def one_per_content(files: Sequence[tuple[T, str]]) -> tuple[list[T], list[T]]:
    """Given a batch's files with the sha256 of each, the first of each content (to upload)
    and the others (copies, which wait for that upload's result): bytes are paid for once."""
    first: list[T] = []
    copies: list[T] = []
    seen: set[str] = set()
    for item, sha256 in files:
        (copies if sha256 in seen else first).append(item)
        seen.add(sha256)
    return first, copies


def encoded_size(size: int) -> int:
    """Given a file's size, the bytes it takes in a request body (base64)."""
    return (size + 2) // 3 * 4


def fit_batch(
    sizes: Sequence[int], max_request_bytes: int, costs: Sequence[int], credits_left: int | None
) -> int:
    """Given the files of a batch in order (their sizes as sent, and what each costs: a
    video's frames each cost an image), how many of the first of them one request may
    carry: within the byte cap (but never none for the cap's sake: one file always fits)
    and within the credits a budget leaves (``None``: no budget)."""
    kept, total, spent = 0, 0, 0
    for size, cost in zip(sizes, costs, strict=True):
        if kept and total + size > max_request_bytes:
            break
        if credits_left is not None and spent + cost > credits_left:
            break
        kept, total, spent = kept + 1, total + size, spent + cost
    return kept
