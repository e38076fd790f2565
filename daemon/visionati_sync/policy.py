"""What a fault or a limit means for the files at hand: pure decisions, each from what
happened to what to do, so that the stages only carry them out and tests need no network.

- An upload the API refused: its files go back untouched (``Release``), are charged an
  attempt (``Retry``) or are skipped (``Skip``); uploads may pause (``Pause``).
- A poll that failed: poll again later (``PollLater``), give the request's files back to
  the queue (``Requeue``), or end the request as failed (``FailRequest``).
- How many files of a batch one request may carry, within the size cap and the budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from .client import (
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
MAX_POLL_FAILURES = 40  # with backoff capped at 10 minutes, several hours of trying


class PauseKind(StrEnum):
    """Why uploads are paused, and so how the pause ends."""

    AUTH = "auth"  # the key was rejected: re-checked now and then with a call that is free
    CREDITS = "credits"  # the account is empty: its balance is checked now and then
    NETWORK = "network"  # the API cannot be reached: a longer wait each time
    RATE = "rate"  # HTTP 429: as long as the API asks
    BUDGET = "budget"  # a spending cap: until the next local day, or a config change


STOPS_A_SCAN = frozenset({PauseKind.AUTH, PauseKind.CREDITS, PauseKind.BUDGET})


@dataclass(frozen=True)
class Pause:
    kind: PauseKind
    reason: str
    seconds: float | None = None  # None: the gate's own interval for this kind


@dataclass(frozen=True)
class Release:
    """Back to the queue as they were: not the files' fault, no attempt counted."""

    delay: float = 0.0
    error: str | None = None  # shown by `jobs` while they wait


@dataclass(frozen=True)
class Retry:
    """Each file is charged an attempt and tried again after a backoff, or fails for good."""

    error: str


@dataclass(frozen=True)
class Skip:
    """Not for the API (the one file in the request was too large)."""

    reason: str


@dataclass(frozen=True)
class UploadVerdict:
    files: Release | Retry | Skip
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
    if isinstance(exc, TransientError) and exc.unreachable:
        return UploadVerdict(Release(), Pause(PauseKind.NETWORK, f"API unreachable: {exc.message}"))
    if isinstance(exc, TransientError) and exc.http_status == 429:
        delay = exc.retry_after if exc.retry_after is not None else backoff.delay(1)
        return UploadVerdict(
            Release(delay=delay), Pause(PauseKind.RATE, "rate limited by the API", delay)
        )
    if isinstance(exc, FileTooLarge) and files == 1:
        return UploadVerdict(Skip(exc.message))
    return UploadVerdict(Retry(exc.message))


@dataclass(frozen=True)
class PollLater:
    delay: float
    failure: bool = True  # counted against the request


@dataclass(frozen=True)
class Requeue:
    """The request is lost to us: its files go back to the queue (or fail, out of tries).
    Either the API no longer knows it, or we gave up polling it (``gave_up``)."""

    error: str
    gave_up: bool = False


@dataclass(frozen=True)
class FailRequest:
    """The API says the request failed: its files are retried like a refused upload."""

    error: str


def after_poll_error(
    exc: ApiError,
    failures: int,
    *,
    poll_interval: float,
    auth_retry_interval: float,
    backoff: Backoff,
) -> PollLater | Requeue | FailRequest:
    """Given the error a poll met, after ``failures`` failed polls of the same request,
    what to do about the request."""
    if isinstance(exc, RequestNotFound):
        return Requeue(exc.message)
    if isinstance(exc, RequestFailed):
        return FailRequest(exc.message)
    if isinstance(exc, AccessDenied):
        return PollLater(auth_retry_interval)
    if failures + 1 >= MAX_POLL_FAILURES:
        return Requeue(f"polling kept failing: {exc.message}", gave_up=True)
    retry_after = exc.retry_after if isinstance(exc, TransientError) else None
    return PollLater(backoff.delay(failures + 1, at_least=max(poll_interval, retry_after or 0)))


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
    sizes: Sequence[int], max_request_bytes: int, per_image: int, credits_left: int | None
) -> int:
    """Given the files of a batch in order (their sizes as sent), how many of the first of
    them one request may carry: within the byte cap (but never none for the cap's sake: one
    file always fits) and within the credits a budget leaves (``None``: no budget)."""
    kept, total = 0, 0
    for size in sizes:
        if kept and total + size > max_request_bytes:
            break
        kept, total = kept + 1, total + size
    if credits_left is not None and per_image > 0:
        kept = min(kept, credits_left // per_image)
    return kept
