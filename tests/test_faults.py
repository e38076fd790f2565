"""The real daemon against an API that fails in every documented way: each file ends done
(or, for a permanent fault, failed with the API's message), and the requests made stay
within a stated bound: no retry storm."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from support import (
    KEY,
    Daemon,
    EmulatorControl,
    base_config,
    clean_env,
    cli_json,
    wait_until,
    write_config,
)
from visionati_sync import samples
from visionati_sync.emulator import Emulator

pytestmark = pytest.mark.slow
FILES = 8  # two requests of four


def fast_config(emulator: Emulator, tmp_path: Path, photos: Path, **api: Any) -> Path:
    settings = {"batch_size": 4, "max_attempts": 5, "retry_base_delay": 0.3,
                "retry_max_delay": 2, "auth_retry_interval": 1, "credit_check_interval": 1,
                **api}  # fmt: skip
    return write_config(
        tmp_path / "config.yaml", base_config(emulator.url, tmp_path, [photos], api=settings)
    )


def run_until(tmp_path: Path, config: Path, predicate: Any, timeout: float = 60) -> dict[str, Any]:
    env = clean_env(tmp_path)
    with Daemon(config, tmp_path / "daemon.log", env) as daemon:
        status = wait_until(
            lambda: (s := cli_json(config, "status", env=env)) and predicate(s) and s,
            timeout,
            0.3,
            "the files to end",
        )
        assert daemon.alive()
        assert daemon.stop() == 0
    return status


def requests_to(control: EmulatorControl, method: str, prefix: str) -> int:
    return sum(1 for e in control.log() if e["method"] == method and e["path"].startswith(prefix))


def all_done(status: dict[str, Any]) -> bool:
    return status["counts"]["done"] == FILES


FAULTS = {
    "http 500 on upload": [{"method": "POST", "path": "/api/fetch", "status": 500,
                            "body": {"error": "Internal server error"}, "times": 3}],
    "429 with Retry-After": [{"method": "POST", "path": "/api/fetch", "status": 429,
                              "headers": {"Retry-After": "1"}, "body": "slow down", "times": 2}],
    "dropped connections": [{"method": "POST", "path": "/api/fetch", "drop": True, "times": 3}],
    "non-JSON bodies": [{"method": "POST", "path": "/api/fetch", "status": 502,
                         "body": "<html>Bad gateway</html>", "times": 2},
                        {"method": "GET", "path": "/api/response/", "status": 200,
                         "body": "<html>oops</html>", "times": 2}],
    "http 500 on poll": [{"method": "GET", "path": "/api/response/", "status": 500,
                          "body": {"error": "Internal"}, "times": 3}],
    "JSON of the wrong shape": [{"method": "POST", "path": "/api/fetch", "status": 200,
                                 "body": {"status": "completed", "all": []}, "times": 2}],
    "a failed result": [{"method": "POST", "path": "/api/fetch", "times": 1,
                         "fail_request": "Request failed: backend timed out"}],
}  # fmt: skip


@pytest.mark.parametrize("fault", list(FAULTS))
def test_transient_faults_end_with_every_file_done_without_a_storm(
    tmp_path: Path, emulator: Emulator, control: EmulatorControl, fault: str
) -> None:
    photos = tmp_path / "photos"
    samples.write_library(photos, FILES)
    control.faults(*FAULTS[fault])
    status = run_until(tmp_path, fast_config(emulator, tmp_path, photos), all_done)
    assert status["counts"]["failed"] == 0
    injected = sum(f.get("times", 1) for f in FAULTS[fault])
    # two good uploads, one more per injected upload fault (and a failed result is re-sent)
    assert requests_to(control, "POST", "/api/fetch") <= 2 + injected + 1
    # polls: a handful per request plus one per injected poll fault, never a storm
    assert requests_to(control, "GET", "/api/response/") <= 3 * 8 + injected
    assert len(list(photos.glob("*.xmp"))) == FILES


def test_a_permanent_failure_ends_failed_with_the_api_s_message(
    tmp_path: Path, emulator: Emulator, control: EmulatorControl
) -> None:
    photos = tmp_path / "photos"
    samples.write_library(photos, 4)
    control.faults({"method": "POST", "path": "/api/fetch", "times": 100,
                    "fail_request": "Request failed: unsupported content"})  # fmt: skip
    config = fast_config(emulator, tmp_path, photos, max_attempts=2)
    status = run_until(tmp_path, config, lambda s: s["counts"]["failed"] == 4)
    assert status["counts"]["done"] == 0
    jobs = cli_json(config, "jobs", env=clean_env(tmp_path))
    for job in jobs:
        assert job["error"] == (
            "API: Request failed: unsupported content (gave up after 2 attempts)"
        )
        assert job["attempts"] == 2
    assert requests_to(control, "POST", "/api/fetch") == 2  # one request of 4, sent twice


def test_expired_request_ids_are_uploaded_again(
    tmp_path: Path, emulator: Emulator, control: EmulatorControl
) -> None:
    photos = tmp_path / "photos"
    samples.write_library(photos, FILES)
    control.settings(queued_polls=10_000)
    config = fast_config(emulator, tmp_path, photos)
    env = clean_env(tmp_path)
    with Daemon(config, tmp_path / "daemon.log", env) as daemon:
        wait_until(lambda: cli_json(config, "status", env=env)["counts"]["submitted"] == FILES, 30)
        requests.post(f"{emulator.url}/_emulator/expire", json={}, timeout=10)  # 24 h later
        control.settings(queued_polls=1)
        wait_until(lambda: cli_json(config, "status", env=env)["counts"]["done"] == FILES, 60, 0.3)
        assert daemon.logged("request unknown to the API; its files are queued again")
        assert daemon.stop() == 0
    assert requests_to(control, "POST", "/api/fetch") == 4  # each file sent exactly twice


def test_no_credits_pauses_then_resumes_by_itself(
    tmp_path: Path, emulator: Emulator, control: EmulatorControl
) -> None:
    photos = tmp_path / "photos"
    samples.write_library(photos, FILES)
    control.settings(credits=0)
    config = fast_config(emulator, tmp_path, photos)
    env = clean_env(tmp_path)
    with Daemon(config, tmp_path / "daemon.log", env) as daemon:
        status = wait_until(lambda: (s := cli_json(config, "status", env=env))["paused"] and s, 30)
        assert status["paused"]["kind"] == "credits"
        assert status["paused"]["reason"] == "out of credits: No credits."
        time.sleep(3)  # paused: pending files stay pending, nothing fails, a check a second
        status = cli_json(config, "status", env=env)
        assert (status["counts"]["pending"], status["counts"]["failed"]) == (FILES, 0)
        checks = requests_to(control, "GET", "/api/credits")
        assert 1 <= checks <= 3 + 2
        control.settings(credits=1000)
        wait_until(lambda: cli_json(config, "status", env=env)["counts"]["done"] == FILES, 30, 0.3)
        assert cli_json(config, "status", env=env)["paused"] is None
        assert daemon.stop() == 0
    assert requests_to(control, "POST", "/api/fetch") == 1 + 2  # the refused one, then two


def test_a_rejected_key_pauses_until_a_reload_brings_the_right_one(
    tmp_path: Path, emulator: Emulator, control: EmulatorControl
) -> None:
    photos = tmp_path / "photos"
    samples.write_library(photos, FILES)
    config = fast_config(
        emulator, tmp_path, photos, key="sk-old-revoked-key", auth_retry_interval=600
    )
    env = clean_env(tmp_path)
    with Daemon(config, tmp_path / "daemon.log", env) as daemon:
        status = wait_until(lambda: (s := cli_json(config, "status", env=env))["paused"] and s, 30)
        assert status["paused"] == {"kind": "auth", "reason": "API key rejected: Access denied."}
        assert status["counts"]["pending"] == FILES
        fast_config(emulator, tmp_path, photos, key=KEY, auth_retry_interval=600)
        daemon.process.send_signal(signal.SIGHUP)
        wait_until(lambda: cli_json(config, "status", env=env)["counts"]["done"] == FILES, 30, 0.3)
        assert daemon.logged("configuration reloaded")
        assert daemon.stop() == 0
    log_text = (tmp_path / "daemon.log").read_text()
    assert "sk-old-revoked-key" not in log_text and KEY not in log_text
    # one refused upload, one key check after the reload, two uploads
    assert requests_to(control, "POST", "/api/fetch") == 1 + 1 + 2
