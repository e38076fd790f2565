"""The pure decisions: what a fault means for the files and for uploads, how much of a batch
one request carries, which XMP sidecar a photo gets. No network, no disk."""

from __future__ import annotations

from datetime import timedelta

import pytest

from visionati_sync.api.client import (
    AccessDenied,
    ApiError,
    FileTooLarge,
    OutOfCredits,
    RejectedRequest,
    RequestFailed,
    RequestNotFound,
    TransientError,
)
from visionati_sync.rules.claiming import ClaimSize
from visionati_sync.rules.policy import (
    FailRequest,
    Pause,
    PauseKind,
    PollLater,
    Release,
    Requeue,
    Retry,
    Skip,
    Split,
    UploadVerdict,
    after_faults,
    after_poll_error,
    after_upload_error,
    batch_for,
    encoded_size,
    fit_batch,
    smaller_batch,
)
from visionati_sync.rules.retry import Backoff
from visionati_sync.sidecars.xmp.naming import Beside, choose

NO_JITTER = Backoff(base=2.0, cap=60.0, jitter=0.0)


@pytest.mark.parametrize(
    ("error", "files", "verdict"),
    [
        (AccessDenied("Access denied."), 8, UploadVerdict(
            Release(error="waiting: API key rejected (Access denied.)"),
            Pause(PauseKind.AUTH, "API key rejected: Access denied."))),
        (OutOfCredits("No credits."), 8, UploadVerdict(
            Release(error="waiting: No credits."),
            Pause(PauseKind.CREDITS, "out of credits: No credits."))),
        (TransientError("connection refused", unreachable=True), 8, UploadVerdict(
            Release(), Pause(PauseKind.NETWORK, "API unreachable: connection refused"))),
        (TransientError("429", http_status=429, retry_after=7.0), 8, UploadVerdict(
            Release(delay=7.0), Pause(PauseKind.RATE, "rate limited by the API", 7.0))),
        (TransientError("429", http_status=429), 8, UploadVerdict(
            Release(delay=2.0), Pause(PauseKind.RATE, "rate limited by the API", 2.0))),
        (TransientError("HTTP 500: oops", http_status=500), 8, UploadVerdict(
            Release(error="waiting: API fault (HTTP 500: oops)", fault=True),
            Pause(PauseKind.SERVER, "API fault: HTTP 500: oops"))),
        (TransientError("HTTP 200: not JSON"), 8, UploadVerdict(
            Release(error="waiting: API fault (HTTP 200: not JSON)", fault=True),
            Pause(PauseKind.SERVER, "API fault: HTTP 200: not JSON"))),
        (FileTooLarge("File too large. Max 20MB."), 1, UploadVerdict(
            Skip("File too large. Max 20MB."))),
        (FileTooLarge("File too large. Max 20MB."), 3, UploadVerdict(
            Split("File too large. Max 20MB."))),  # which of the three? halves will tell
        (RejectedRequest("Invalid request format."), 8, UploadVerdict(
            Split("Invalid request format."))),
        (RejectedRequest("Invalid request format."), 1, UploadVerdict(
            Retry("Invalid request format."))),
    ],
    ids=["key", "credits", "unreachable", "429 Retry-After", "429 bare", "500", "not JSON",
         "too large alone", "too large in a batch", "refused batch", "refused alone"],
)  # fmt: skip
def test_what_an_upload_error_means(error: ApiError, files: int, verdict: UploadVerdict) -> None:
    assert after_upload_error(error, files, NO_JITTER) == verdict


def test_faults_of_the_api_never_cost_a_file_an_attempt() -> None:
    not_theirs = [
        AccessDenied("Access denied."),
        OutOfCredits("Insufficient credits."),
        TransientError("dropped", unreachable=True),
        TransientError("429", http_status=429),
        TransientError("HTTP 502", http_status=502),
        TransientError("timed out"),
    ]
    for error in not_theirs:
        verdict = after_upload_error(error, 8, NO_JITTER)
        assert isinstance(verdict.files, Release) and verdict.pause is not None, error


def test_a_file_every_upload_of_which_faults_is_isolated_then_failed() -> None:
    assert after_faults([1, 3, 2], max_faults=10) == "wait"
    assert after_faults([1, 10, 2], max_faults=10) == "split"
    assert after_faults([10], max_faults=10) == "fail"


def test_a_failed_batch_goes_in_halves_and_the_most_restricted_go_first() -> None:
    assert [smaller_batch(n) for n in (8, 5, 2, 1)] == [4, 3, 1, None]
    assert batch_for([2, 4, None, None], 8) == 2
    assert batch_for([None, None, None], 8) == 3
    assert batch_for([8, 8], 8) == 2
    assert batch_for([], 8) == 0
    assert batch_for([None] * 40, 8) == 8  # api.batch_size is a hard cap
    assert batch_for([16] * 40, 8) == 8


def poll(error: ApiError, failures: int = 0, age: float = 60) -> object:
    return after_poll_error(
        error, failures, poll_interval=2.0, auth_retry_interval=300.0,
        age=timedelta(seconds=age),
    )  # fmt: skip


def test_what_a_poll_error_means() -> None:
    assert poll(RequestNotFound("Request ID r not found.")) == Requeue("Request ID r not found.")
    assert poll(RequestFailed("Request failed: x")) == FailRequest("Request failed: x")
    assert poll(AccessDenied("Access denied.")) == PollLater(300.0, failure=False)
    server = TransientError("HTTP 500", http_status=500)
    assert [poll(server, n) for n in range(4)] == [
        PollLater(1.0), PollLater(2.0), PollLater(2.0), PollLater(2.0),
    ]  # fmt: skip
    slow_down = TransientError("429", http_status=429, retry_after=30.0)
    assert poll(slow_down) == PollLater(30.0)  # Retry-After is honoured


def test_a_request_is_never_given_up_while_the_api_may_hold_its_result() -> None:
    server = TransientError("HTTP 500", http_status=500)
    assert poll(server, failures=10_000, age=23.9 * 3600) == PollLater(2.0)
    gone = poll(server, failures=3, age=24 * 3600)
    assert gone == Requeue("no answer in the 24 hours the API keeps results: HTTP 500", True)


def test_a_batch_fits_the_byte_cap_but_one_file_always_goes() -> None:
    mib = 1024 * 1024
    assert fit_batch([400_000] * 4, mib, [9] * 4, None) == 2
    assert (
        fit_batch([5 * mib, 1], mib, [9, 9], None) == 1
    )  # too big alone: still sent (and refused)
    assert fit_batch([], mib, [], None) == 0
    assert encoded_size(3) == 4 and encoded_size(4) == 8  # base64


def test_a_batch_fits_the_credits_a_budget_leaves() -> None:
    assert fit_batch([10] * 8, 1 << 30, [9] * 8, 50) == 5  # 45 of 50 credits
    assert fit_batch([10] * 8, 1 << 30, [9] * 8, 8) == 0  # not even one: the caller pauses
    assert fit_batch([10] * 8, 1 << 30, [9] * 8, None) == 8  # no budget
    assert fit_batch([10] * 8, 1 << 30, [0] * 8, 0) == 8  # free options cost nothing
    assert fit_batch([10] * 3, 1 << 30, [9, 27, 9], 40) == 2  # a 3-frame video costs 27


@pytest.mark.parametrize(
    ("naming", "beside", "chosen"),
    [
        ("append", Beside(), ("IMG_1.jpg.xmp", None)),
        ("replace", Beside(), ("IMG_1.xmp", None)),
        ("append", Beside(replaced="IMG_1.xmp"), ("IMG_1.xmp", None)),
        ("append", Beside(appended="IMG_1.jpg.xmp", replaced="IMG_1.xmp"),
         ("IMG_1.jpg.xmp", None)),
        ("replace", Beside(appended="IMG_1.jpg.xmp", replaced="IMG_1.xmp"),
         ("IMG_1.xmp", None)),
        ("append", Beside(appended="IMG_1.JPG.XMP"), ("IMG_1.JPG.XMP", None)),
        ("replace", Beside(stem_shared=True),
         ("IMG_1.jpg.xmp", "another photo shares the stem of IMG_1.jpg; using IMG_1.jpg.xmp")),
        ("replace", Beside(replaced="IMG_1.xmp", stem_shared=True),
         ("IMG_1.jpg.xmp", "IMG_1.xmp belongs to another photo with the same stem")),
        ("replace", Beside(replaced="IMG_1.xmp", replaced_for="IMG_1.png"),
         ("IMG_1.jpg.xmp", "IMG_1.xmp belongs to another photo with the same stem")),
        ("replace", Beside(replaced="IMG_1.xmp", replaced_for="IMG_1.jpg", stem_shared=True),
         ("IMG_1.xmp", None)),
    ],
)  # fmt: skip
def test_which_sidecar_a_photo_gets(naming: str, beside: Beside, chosen: tuple) -> None:
    assert choose("IMG_1.jpg", naming, beside) == chosen


def test_the_claim_grows_while_the_cache_serves_all_and_falls_back_when_a_file_goes() -> None:
    size = ClaimSize(batch_size=8)
    assert size.now == 8
    assert [size.after(claimed, served) for claimed, served in
            [(8, 8), (16, 16), (32, 32), (64, 64), (64, 64)]] == [16, 32, 64, 64, 64]  # fmt: skip
    assert size.after(64, 63) == 8  # one had to go: a request's worth again
    assert size.after(0, 0) == 8  # nothing claimed: nothing learnt
