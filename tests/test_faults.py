"""The real daemon against an API that fails in every documented way: each file ends done
(or, for a permanent fault, failed with the API's message), and the requests made stay
within a stated bound: no retry storm."""

from __future__ import annotations

import itertools
import signal
from typing import Any

import pytest
import requests

from support import KEY, EmulatorControl, Library, wait_until
from visionati_sync.devtools import samples

pytestmark = pytest.mark.slow
FILES = 8  # two requests of four


def fast_config(library: Library, **api: Any) -> None:
    settings = {"batch_size": 4, "max_attempts": 5, "retry_base_delay": 0.3,
                "retry_max_delay": 2, "auth_retry_interval": 1, "credit_check_interval": 1,
                **api}  # fmt: skip
    library.configure(api=settings)


def run_until(library: Library, predicate: Any, timeout: float = 60) -> dict[str, Any]:
    with library.daemon() as daemon:
        status = wait_until(
            lambda: (s := library.status()) and predicate(s) and s,
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
    library: Library, control: EmulatorControl, fault: str
) -> None:
    samples.write_library(library.photos, FILES)
    control.faults(*FAULTS[fault])
    fast_config(library)
    status = run_until(library, all_done)
    assert status["counts"]["failed"] == 0
    injected = sum(f.get("times", 1) for f in FAULTS[fault])
    # two good uploads, one more per injected upload fault (and a failed result is re-sent)
    assert requests_to(control, "POST", "/api/fetch") <= 2 + injected + 1
    # polls: a handful per request plus one per injected poll fault, never a storm
    assert requests_to(control, "GET", "/api/response/") <= 3 * 8 + injected
    assert len(list(library.photos.glob("*.xmp"))) == FILES


def test_a_permanent_failure_ends_failed_with_the_api_s_message(
    library: Library, control: EmulatorControl
) -> None:
    samples.write_library(library.photos, 4)
    control.faults({"method": "POST", "path": "/api/fetch", "times": 100,
                    "fail_request": "Request failed: unsupported content"})  # fmt: skip
    fast_config(library, max_attempts=2)
    status = run_until(library, lambda s: s["counts"]["failed"] == 4)
    assert status["counts"]["done"] == 0
    for job in library.jobs().values():
        assert job["error"] == (
            "API: Request failed: unsupported content (gave up after 2 attempts)"
        )
        assert job["attempts"] == 2
    # the batch of 4 fails whole, so it is split to find the file at fault: 4, 2 + 2, then each
    # file alone, twice (max_attempts): the API fails them all, so each ends by itself
    assert requests_to(control, "POST", "/api/fetch") == 1 + 2 + 4 * 2


def test_expired_request_ids_are_uploaded_again(library: Library, control: EmulatorControl) -> None:
    samples.write_library(library.photos, FILES)
    control.settings(queued_polls=10_000)
    fast_config(library)
    with library.daemon() as daemon:
        library.wait_for("submitted", FILES)
        requests.post(f"{library.url}/_emulator/expire", json={}, timeout=10)  # 24 h later
        control.settings(queued_polls=1)
        library.wait_for("done", FILES, 60)
        assert daemon.logged("request unknown to the API; its files are queued again")
        assert daemon.stop() == 0
    assert requests_to(control, "POST", "/api/fetch") == 4  # each file sent exactly twice


def test_no_credits_pauses_then_resumes_by_itself(
    library: Library, control: EmulatorControl
) -> None:
    samples.write_library(library.photos, FILES)
    control.settings(credits=0)
    fast_config(library)  # the balance is checked every second while paused
    with library.daemon() as daemon:
        status = wait_until(lambda: (s := library.status())["paused"] and s, 30)
        assert status["paused"] == {"kind": "credits", "reason": "out of credits: No credits."}
        checks = wait_until(lambda: len(c := checked(control)) >= 3 and c, 30, 0.1)
        status = library.status()  # paused: pending files stay pending, nothing fails
        assert (status["counts"]["pending"], status["counts"]["failed"]) == (FILES, 0)
        gaps = [later - earlier for earlier, later in itertools.pairwise(checks)]
        assert min(gaps) >= 0.9, gaps  # a check a second, never a storm
        control.settings(credits=1000)
        library.wait_for("done", FILES)
        assert library.status()["paused"] is None
        assert daemon.stop() == 0
    assert requests_to(control, "POST", "/api/fetch") == 1 + 2  # the refused one, then two


def checked(control: EmulatorControl) -> list[float]:
    """When the daemon asked for the balance."""
    return [e["time"] for e in control.log() if e["path"] == "/api/credits"]


def test_a_rejected_key_pauses_until_a_reload_brings_the_right_one(
    library: Library, control: EmulatorControl
) -> None:
    samples.write_library(library.photos, FILES)
    fast_config(library, key="sk-old-revoked-key", auth_retry_interval=600)
    with library.daemon() as daemon:
        status = wait_until(lambda: (s := library.status())["paused"] and s, 30)
        assert status["paused"] == {"kind": "auth", "reason": "API key rejected: Access denied."}
        assert status["counts"]["pending"] == FILES
        fast_config(library, key=KEY, auth_retry_interval=600)
        daemon.process.send_signal(signal.SIGHUP)
        library.wait_for("done", FILES)
        assert daemon.logged("configuration reloaded")
        assert daemon.stop() == 0
    log_text = daemon.log_path.read_text()
    assert "sk-old-revoked-key" not in log_text and KEY not in log_text
    # one refused upload, one key check after the reload, two uploads
    assert requests_to(control, "POST", "/api/fetch") == 1 + 1 + 2
