"""An API that fails the way real ones do, for whole libraries: a mix of faults at a rate, a
long spell of failing polls, and one file the API cannot process. Every file ends tagged
unless the API failed it, alone, max_attempts times; nothing is paid for twice once the
API has answered it; no request is given up while the API may hold its result."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from support import EmulatorControl, Library
from visionati_sync.devtools import samples

pytestmark = pytest.mark.slow
FAST = {"poll_interval": 0.2, "retry_base_delay": 0.2, "retry_max_delay": 1.0, "timeout": 5}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def paid_once(control: EmulatorControl) -> Counter[str]:
    """Each content in how many requests the API answered with results: never two."""
    answered = Counter(
        h for r in control.requests() if r["completed"] and not r["failed"] for h in r["sha256"]
    )
    assert set(answered.values()) <= {1}, answered.most_common(3)
    return answered


def test_one_file_the_api_cannot_process_fails_alone(
    library: Library, control: EmulatorControl
) -> None:
    images = samples.write_library(library.photos, 40)
    poison = images[17]
    control.settings(queued_polls=0, processing_polls=0)
    control.faults({"poison": sha(poison), "fail_request": "Request failed: cannot process it"})
    library.configure(api={**FAST, "batch_size": 8, "max_attempts": 3})
    result = library.cli("scan", timeout=180)
    assert result.returncode == 1  # one file failed
    assert library.counts() == {"pending": 0, "submitted": 0, "done": 39, "failed": 1,
                                "skipped": 0, "review": 0, "untagged": 0}  # fmt: skip
    job = library.jobs()[poison.name]
    assert job["error"] == "API: Request failed: cannot process it (gave up after 3 attempts)"
    with_poison = [r for r in control.requests() if sha(poison) in r["sha256"]]
    assert [len(r["sha256"]) for r in with_poison] == [8, 4, 2, 1, 1, 1]  # log2(8) + 3
    assert len(paid_once(control)) == 39


def test_polls_that_fail_most_of_the_time_never_give_a_request_up(
    library: Library, control: EmulatorControl
) -> None:
    images = samples.write_library(library.photos, 16)
    control.settings(queued_polls=1, processing_polls=1, seed=3)
    for status in (500, 502, 503):  # with the 429s, 70% of polls fail, for 10 s
        control.faults({"method": "GET", "path": "/api/response/", "rate": 0.25, "status": status,
                        "body": {"error": "busy"}, "for_seconds": 10})  # fmt: skip
    slow = {"rate": 0.1, "status": 429, "headers": {"Retry-After": "1"}, "body": "slow"}
    control.faults({"method": "GET", "path": "/api/response/", "for_seconds": 10, **slow})
    library.configure(api={**FAST, "batch_size": 4})
    result = library.cli("scan", timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    assert library.counts()["done"] == 16
    assert "giving up" not in result.stderr
    assert sum(1 for e in control.log() if e.get("fault")) > 10  # the polls did fail
    assert sorted(paid_once(control)) == sorted(sha(p) for p in images)
    assert len(control.uploads()) == 4  # each file uploaded once


FAULT_MIX: list[dict[str, Any]] = [
    {"rate": 0.2, "status": 500, "body": {"error": "Internal server error"}},
    {"rate": 0.1, "status": 429, "headers": {"Retry-After": "1"}, "body": "slow down"},
    {"rate": 0.1, "drop": True},
    {"rate": 0.1, "status": 502, "body": "<html>Bad gateway</html>"},
]


def scan_with_faults(library: Library, control: EmulatorControl, faults: bool) -> float:
    control.settings(queued_polls=1, processing_polls=1, seed=11)
    if faults:
        for path in ("/api/fetch", "/api/response/"):
            method = "POST" if path == "/api/fetch" else "GET"
            control.faults(*({"method": method, "path": path, **f} for f in FAULT_MIX))
        control.faults({"method": "POST", "path": "/api/fetch", "rate": 0.05,
                        "fail_request": "Request failed: backend timed out"})  # fmt: skip
    started = time.monotonic()
    result = library.cli("scan", timeout=300)
    assert result.returncode in (0, 1), result.stderr[-2000:]
    return time.monotonic() - started


def test_a_rough_mix_of_faults_tags_the_library_and_charges_once(
    library: Library, control: EmulatorControl
) -> None:
    images = samples.write_library(library.photos, 40)
    library.configure(api={**FAST, "max_attempts": 3})
    scan_with_faults(library, control, faults=True)
    counts = library.counts()
    assert counts["pending"] == counts["submitted"] == 0
    alone_failures = Counter(
        r["sha256"][0] for r in control.requests() if r["failed"] and len(r["sha256"]) == 1
    )
    for name, job in library.jobs().items():
        if job["state"] != "done":  # only a file the API failed, alone, three times
            assert alone_failures[sha(library.photos / name)] >= 3, (name, job)
    assert counts["done"] >= 36  # 5% failed results: three in a row for a file is rare
    answered = paid_once(control)  # never paid again once answered
    assert set(answered) <= {sha(p) for p in images}
    assert sum(1 for e in control.log() if e.get("fault")) >= 5  # the mix did strike
    # how long it takes, against the same scan with no faults: benchmarks/faults.py
