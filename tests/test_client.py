"""The API client: every documented answer mapped, tested on raw answers and over HTTP."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from support import KEY, EmulatorControl
from visionati_sync.api.client import (
    Accepted,
    AccessDenied,
    ApiClient,
    Completed,
    FileTooLarge,
    OutOfCredits,
    RejectedRequest,
    RequestFailed,
    RequestNotFound,
    TransientError,
    interpret,
    parse_retry_after,
)
from visionati_sync.devtools.emulator import Emulator, EmulatorSettings


def answer(status: int, body: object, headers: dict[str, str] | None = None) -> object:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return interpret(status, headers or {}, raw)


def test_async_answer_gives_the_request_to_poll() -> None:
    got = answer(
        200,
        {
            "request_id": "267f99ce",
            "status": "queued",
            "success": True,
            "response_uri": "https://api.visionati.com/api/response/267f99ce",
        },
    )
    assert got == Accepted("267f99ce", "queued", "https://api.visionati.com/api/response/267f99ce")


def test_completed_answer_carries_assets_credits_and_backend_errors() -> None:
    got = answer(
        200,
        {
            "request_id": "r",
            "status": "completed",
            "credits_paid": 3,
            "credits": 9,
            "all": {"assets": [{"name": "a.jpg"}], "errors": [{"x": 1}]},
        },
    )
    assert got == Completed("r", 3, 9, [{"name": "a.jpg"}], [{"x": 1}])


@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (401, {"error": "Access denied."}, AccessDenied, "Access denied."),
        (200, {"error": "Access denied. Email not verified."}, AccessDenied, "Email not verified"),
        (
            403,
            {"error": "Access denied. Purchase credits on the account page."},
            AccessDenied,
            "Purchase",
        ),
        (200, {"error": "No credits."}, OutOfCredits, "No credits."),
        (402, {"error": "Insufficient credits."}, OutOfCredits, "Insufficient credits."),
        (400, {"error": "File too large. Max 20MB."}, FileTooLarge, "Max 20MB"),
        (404, {"error": "Request ID abc not found."}, RequestNotFound, "abc"),
        (200, {"status": "failed", "error": "Request failed: timeout"}, RequestFailed, "timeout"),
        (400, {"error": "Invalid request format."}, RejectedRequest, "Invalid request format."),
        (503, {"error": "Service busy"}, TransientError, "Service busy"),
        (502, b"<html>Bad gateway</html>", TransientError, "not JSON"),
        (200, b"", TransientError, "not JSON"),
        (200, [1, 2], TransientError, "a JSON list"),
        (200, {"status": "completed", "all": {"assets": "nope"}}, TransientError, "list of assets"),
        (200, {"status": "exploded"}, TransientError, "unexpected answer"),
        (200, {"status": "queued"}, TransientError, "without a usable request_id"),
        (302, b"", TransientError, "redirect"),
    ],
)
def test_each_documented_error_becomes_its_typed_error(
    status: int, body: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message.replace(".", r"\.")):
        answer(status, body)


def test_429_honours_retry_after_in_seconds_and_as_a_date() -> None:
    with pytest.raises(TransientError) as caught:
        answer(429, b"slow down", {"Retry-After": "7"})
    assert caught.value.retry_after == 7
    when = datetime.now(UTC) + timedelta(seconds=30)
    assert 25 < (parse_retry_after(format_datetime(when, usegmt=True)) or 0) <= 31
    assert parse_retry_after("not a date") is None


def test_full_exchange_with_the_emulator(emulator: Emulator) -> None:
    client = ApiClient(emulator.url, KEY)
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 32).decode()
    body = {"file": [png], "file_name": ["a.png"], "feature": ["tags"], "backend": ["clarifai"]}
    first = client.submit(json.dumps(body).encode())
    assert isinstance(first, Accepted) and first.status == "queued"
    statuses = []
    for _ in range(5):
        got = client.poll(first.request_id, first.response_uri)
        statuses.append(got.status if isinstance(got, Accepted) else "completed")
        if isinstance(got, Completed):
            break
    assert statuses == ["queued", "processing", "completed"]
    assert isinstance(got, Completed) and got.credits_paid == 1
    assert [a["name"] for a in got.assets] == ["a.png"]
    assert client.credits() == 100_000 - 1


def test_wrong_key_is_access_denied_and_key_check_costs_nothing(emulator: Emulator) -> None:
    with pytest.raises(AccessDenied):
        ApiClient(emulator.url, "wrong").check_key()
    ApiClient(emulator.url, KEY).check_key()
    assert ApiClient(emulator.url, KEY).credits() == 100_000


def test_a_response_uri_on_another_origin_is_never_sent_the_key(emulator: Emulator) -> None:
    foreign = Emulator(EmulatorSettings(keys=["anything"])).start()
    try:
        EmulatorControl(emulator.url).settings(response_origin=foreign.url)
        client = ApiClient(emulator.url, KEY)
        first = client.submit(json.dumps({"file": ["/9j/AAAA"], "file_name": ["a.jpg"]}).encode())
        assert isinstance(first, Accepted) and first.response_uri is not None
        assert first.response_uri.startswith(foreign.url)
        assert client.poll_url(first.request_id, first.response_uri).startswith(emulator.url)
        client.poll(first.request_id, first.response_uri)
        assert EmulatorControl(foreign.url).log() == []  # nothing reached the other origin
    finally:
        foreign.stop()


def test_a_redirect_is_not_followed_with_the_key(emulator: Emulator) -> None:
    foreign = Emulator(EmulatorSettings(keys=[KEY])).start()
    try:
        EmulatorControl(emulator.url).faults(
            {
                "path": "/api/credits",
                "status": 302,
                "headers": {"Location": foreign.url + "/api/credits"},
            }
        )
        with pytest.raises(TransientError):
            ApiClient(emulator.url, KEY).credits()
        assert EmulatorControl(foreign.url).log() == []
    finally:
        foreign.stop()


def test_dropped_connection_is_transient(emulator: Emulator) -> None:
    EmulatorControl(emulator.url).faults({"path": "/api/credits", "drop": True})
    with pytest.raises(TransientError, match="connection"):
        ApiClient(emulator.url, KEY).credits()
