"""The gate (when uploads may go) and the budget (how much they may spend), each with an
injected clock: what they do over hours happens here in milliseconds. The gate re-checks
against the emulator over HTTP, and both keep their state in a real job table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support import KEY, EmulatorControl
from visionati_sync.api.client import ApiClient
from visionati_sync.api.options import RequestOptions
from visionati_sync.devtools.emulator import Emulator
from visionati_sync.jobtable import JobTable
from visionati_sync.pipeline.budget import Budget
from visionati_sync.pipeline.gate import Gate
from visionati_sync.records import FileSeen, Upload
from visionati_sync.rules.policy import Pause, PauseKind
from visionati_sync.rules.retry import Backoff


class Clock:
    """Seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def table(tmp_path: Path) -> JobTable:
    return JobTable.open(f"sqlite:///{tmp_path / 'state.db'}")


def make_gate(table: JobTable, clock: Clock) -> Gate:
    return Gate(
        table.reports, auth_retry_interval=300, credit_check_interval=60,
        backoff=Backoff(base=2.0, cap=300.0, jitter=0.0), clock=clock,
    )  # fmt: skip


def calls(control: EmulatorControl) -> list[str]:
    return [f"{e['method']} {e['path']}" for e in control.log()]


def test_a_rejected_key_is_rechecked_once_per_interval_for_free(
    table: JobTable, emulator: Emulator, control: EmulatorControl
) -> None:
    clock, client = Clock(), ApiClient(emulator.url, "sk-revoked")
    gate = make_gate(table, clock)
    gate.pause(Pause(PauseKind.AUTH, "API key rejected: Access denied."))
    assert table.reports.paused() == {
        "kind": "auth", "reason": "API key rejected: Access denied.",
    }  # fmt: skip
    for _ in range(100):  # the submitter asks often; the API hears nothing
        assert not gate.is_open(client)
    clock.now += 299
    assert not gate.is_open(client)
    assert calls(control) == []
    clock.now += 1
    assert not gate.is_open(client)  # re-checked: still rejected
    assert calls(control) == ["POST /api/fetch"]
    assert not gate.is_open(client)  # and the next re-check is 300 s on
    clock.now += 300
    control.settings(keys=[KEY, "sk-revoked"])  # the account is fixed
    assert gate.is_open(client)
    assert calls(control) == ["POST /api/fetch"] * 2
    assert control.settings()["credits"] == 100_000  # the checks cost nothing
    assert table.reports.paused() is None


def test_a_reload_rechecks_a_pause_at_once(
    table: JobTable, emulator: Emulator, control: EmulatorControl
) -> None:
    clock = Clock()
    gate = make_gate(table, clock)
    gate.pause(Pause(PauseKind.AUTH, "API key rejected: Access denied."))
    gate.recheck_now()
    assert gate.is_open(ApiClient(emulator.url, KEY))
    assert calls(control) == ["POST /api/fetch"]


def test_an_empty_account_is_checked_once_per_interval_until_credits_come(
    table: JobTable, emulator: Emulator, control: EmulatorControl
) -> None:
    clock, client = Clock(), ApiClient(emulator.url, KEY)
    control.settings(credits=0)
    gate = make_gate(table, clock)
    gate.pause(Pause(PauseKind.CREDITS, "out of credits: No credits."))
    for minute in range(1, 4):
        clock.now += 59
        assert not gate.is_open(client)
        clock.now += 1
        assert not gate.is_open(client)
        assert calls(control) == ["GET /api/credits"] * minute
    control.settings(credits=500)
    clock.now += 60
    assert gate.is_open(client)
    assert calls(control) == ["GET /api/credits"] * 4


def test_an_unreachable_api_is_tried_again_later_each_time_until_it_answers(
    table: JobTable,
) -> None:
    clock = Clock()
    gate = make_gate(table, clock)
    waits = []
    for _ in range(10):
        gate.pause(Pause(PauseKind.NETWORK, "API unreachable: connection refused"))
        paused = gate.paused
        assert paused is not None
        waits.append(paused.until - clock.now)
    assert waits == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]  # capped at five minutes
    gate.reached()  # an upload got through
    gate.pause(Pause(PauseKind.NETWORK, "API unreachable: connection refused"))
    assert gate.paused is not None and gate.paused.until - clock.now == 2


def test_a_rate_limit_waits_as_long_as_the_api_asked_and_needs_no_recheck(
    table: JobTable, emulator: Emulator, control: EmulatorControl
) -> None:
    clock, client = Clock(), ApiClient(emulator.url, KEY)
    gate = make_gate(table, clock)
    gate.pause(Pause(PauseKind.RATE, "rate limited by the API", 7.0))
    clock.now += 6.9
    assert not gate.is_open(client)
    clock.now += 0.1
    assert gate.is_open(client)
    assert calls(control) == []


class WallClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def spend(table: JobTable, credits: int, request_id: str) -> None:
    """A request sent now that the price table says costs ``credits``."""
    options = RequestOptions(("tags",), (), "general", "English", None, 0.9)
    table.queue.enqueue("/f", [FileSeen(f"{request_id}.jpg", 1, 1)])
    (job,) = table.claims.claim(1)
    upload = Upload(job.id, "a.jpg", request_id, 1, 1)
    table.requests.mark_submitted(
        request_id, None, options, [upload], first_poll_in=0, credits_estimated=credits
    )


def test_a_daily_budget_counts_the_local_day_and_resumes_at_midnight(tmp_path: Path) -> None:
    local = datetime(2026, 11, 26, 18, 0).astimezone()  # 18:00 wherever the tests run
    clock = WallClock(local.astimezone(UTC))
    table = JobTable.open(f"sqlite:///{tmp_path / 'state.db'}", clock=clock)
    budget = Budget(table.reports, per_day=50, total=None, clock=clock)
    assert budget.allowance().credits == 50
    spend(table, 45, "r1")  # still outstanding: counted at the price table's estimate
    allowance = budget.allowance()
    assert allowance.credits == 5
    midnight = datetime(2026, 11, 27, 0, 0).astimezone()
    assert allowance.resumes_at == midnight
    assert allowance.reason == (
        "daily budget of 50 credits reached (45 spent today); "
        f"uploads resume at {midnight:%Y-%m-%d %H:%M}"
    )
    assert allowance.wait_seconds(clock.now) == 6 * 3600
    clock.now += timedelta(hours=6, seconds=1)  # a new day
    assert budget.allowance().credits == 50


def test_a_total_budget_never_resumes_by_itself(tmp_path: Path) -> None:
    clock = WallClock(datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    table = JobTable.open(f"sqlite:///{tmp_path / 'state.db'}", clock=clock)
    budget = Budget(table.reports, per_day=1000, total=60, clock=clock)
    spend(table, 45, "r1")
    clock.now += timedelta(days=3)
    spend(table, 10, "r2")
    allowance = budget.allowance()
    assert allowance.credits == 5  # the total binds, not today's 10 of 1000
    assert allowance.resumes_at is None
    assert allowance.reason == (
        "total budget of 60 credits reached (55 spent); raise api.max_credits_total to go on"
    )
    assert allowance.wait_seconds(clock.now) == 3600  # the gate looks again in an hour
