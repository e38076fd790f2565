"""Backfilling a library: what it will cost before anything is spent, caps on spending,
progress, and the limits that keep a large backfill polite and small."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from support import KEY, EmulatorControl, Library, wait_until
from visionati_sync.api.client import ApiClient
from visionati_sync.config import ApiSettings, SidecarSettings
from visionati_sync.devtools import samples
from visionati_sync.devtools.emulator import Emulator
from visionati_sync.jobtable import JobTable
from visionati_sync.pipeline.budget import Budget
from visionati_sync.pipeline.gate import Gate
from visionati_sync.pipeline.poller import Poller
from visionati_sync.pipeline.submitter import Submitter
from visionati_sync.pipeline.writer import Writer
from visionati_sync.records import FileSeen

FAST = {"batch_size": 50, "max_inflight_requests": 8, "poll_interval": 0.1}
SETTINGS = {
    "default backends, tags and descriptions": ({}, None),
    "clarifai and openai, three features": (
        {"backends": ["clarifai", "openai"], "features": ["tags", "nsfw", "descriptions"]}, None,
    ),
    "a folder of its own with a long prompt": (
        {"backends": ["googlevision"], "features": ["tags", "colors", "faces"]},
        {"backends": ["claude"], "features": ["descriptions"], "prompt": "Describe it. " * 300},
    ),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_the_estimate_is_exactly_what_the_api_charges(
    tmp_path: Path, library: Library, control: EmulatorControl, setting: str
) -> None:
    control.settings(queued_polls=0, processing_polls=0)
    api, folder_api = SETTINGS[setting]
    photos, shop = library.photos, tmp_path / "shop"
    samples.write_library(photos, 700)
    samples.write_library(shop, 300, start=700)
    folders = [
        {"path": str(photos)},
        {"path": str(shop), **({"api": folder_api} if folder_api else {})},
    ]
    library.configure(folders, api={**FAST, **api})
    estimate = library.json("estimate")
    assert (estimate["files"], estimate["to_upload"], estimate["done"]) == (1000, 1000, 0)
    assert estimate["assumes_default_backends"] is (not api.get("backends"))
    result = library.cli("scan", "--yes", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    charged = sum(entry["credits"] for entry in control.uploads())
    assert estimate["credits"] == charged
    assert estimate["dollars"] == round(charged / 100, 2)
    # afterwards: nothing left to pay for; a copy is served from the cache
    shutil.copy(photos / "IMG_00001.jpg", photos / "copy.jpg")
    after = library.json("estimate")
    assert (after["done"], after["cached"], after["to_upload"], after["credits"]) == (1000, 1, 0, 0)


def test_copies_cost_once_in_the_estimate_as_in_the_scan(
    library: Library, control: EmulatorControl
) -> None:
    """Four copies of one photo and one other, in a fresh folder: the scan uploads each
    content once, and the estimate says so beforehand (18 credits, not 45)."""
    photo, _ = samples.write_library(library.photos, 2)
    for n in range(3):
        shutil.copy(photo, library.photos / f"copy-{n}{photo.suffix}")
    estimate = library.json("estimate")
    assert (estimate["to_upload"], estimate["copies"], estimate["credits"]) == (2, 3, 18)
    assert "3 copies of files uploaded once, at no charge" in library.cli("estimate").stdout
    assert library.cli("scan", "--yes").returncode == 0
    assert sum(entry["credits"] for entry in control.uploads()) == 18
    assert library.counts()["done"] == 5


def test_the_text_estimate_says_when_it_assumes_the_default_backends(library: Library) -> None:
    samples.write_library(library.photos, 10)
    text = library.cli("estimate").stdout
    assert (
        "10 eligible file(s): 0 already done, 0 served from the results cache, 10 to upload" in text
    )
    assert "cost: 90 credits ($0.90)" in text
    assert "assumes the documented defaults: claude, gemini, grok, openai" in text
    dry = library.cli("scan", "--dry-run")
    assert dry.returncode == 0 and "cost: 90 credits" in dry.stdout


class Clock:
    """Wall time that runs, and that a test can move on by a day."""

    def __init__(self, start: datetime) -> None:
        self.start, self.real, self.offset = start, time.monotonic(), timedelta()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.real) + self.offset


def run_until_idle(submitter: Submitter, poller: Poller, writer: Writer, table: JobTable) -> None:
    """Step the stages until none has anything left to do: no request out, no sidecar to
    write, and nothing the submitter may send (its queue empty, or its gate closed)."""

    def idle() -> bool:
        busy = submitter.step() | (poller.step() is True) | writer.step()
        return not busy and table.requests.outstanding() == 0 and not table.writes.tasks()

    wait_until(idle, 60, what="the pipeline to run out of work")


def test_the_daily_budget_stops_at_the_cap_and_resumes_the_next_day(
    tmp_path: Path, emulator: Emulator, control: EmulatorControl
) -> None:
    control.settings(queued_polls=0, processing_polls=0)
    clock = Clock(datetime(2026, 11, 26, 18, 0, tzinfo=UTC))
    table = JobTable.open(f"sqlite:///{tmp_path / 'state.db'}", clock=clock)
    photos = tmp_path / "photos"
    images = samples.write_library(photos, 30)
    old = time.time() - 60
    table.queue.enqueue(
        str(photos), [FileSeen(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in images]
    )
    for image in images:
        os.utime(image, (old, old))
    table.queue.enqueue(
        str(photos), [FileSeen(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in images]
    )
    api = ApiSettings(
        base_url=emulator.url, poll_interval=0.1, batch_size=8, max_credits_per_day=50
    )
    budget = Budget(table.reports, api.max_credits_per_day, None, clock=clock)
    gate = Gate(table.reports, auth_retry_interval=60, credit_check_interval=60,
                clock=lambda: clock().timestamp())  # fmt: skip

    def client() -> ApiClient:
        return ApiClient(emulator.url, KEY)

    submitter = Submitter(table, client, api, gate, budget=budget, clock=clock)
    poller = Poller(table.polls, client, api)
    writer = Writer(table.writes, SidecarSettings(formats=["json"]))
    run_until_idle(submitter, poller, writer, table)
    charged = [entry["credits"] for entry in control.uploads()]
    assert sum(charged) == 45  # 5 photos × 9 credits; a sixth would pass 50
    assert table.reports.counts()["done"] == 5 and table.reports.counts()["pending"] == 25
    paused = table.reports.paused()
    assert paused["kind"] == "budget"
    assert paused["reason"].startswith("daily budget of 50 credits reached (45 spent today)")
    clock.offset = timedelta(hours=6)  # past midnight
    run_until_idle(submitter, poller, writer, table)
    assert sum(entry["credits"] for entry in control.uploads()) == 90
    assert table.reports.counts()["done"] == 10


@pytest.mark.slow
def test_scan_asks_before_a_large_spend(library: Library) -> None:
    samples.write_library(library.photos, 20)  # 180 credits
    refused = library.cli("scan", "--confirm-above", "100")
    assert refused.returncode == 2
    assert "the estimate (180 credits) is over --confirm-above 100" in refused.stderr
    assert library.counts()["done"] == 0
    assert library.cli("scan", "--confirm-above", "100", "--yes").returncode == 0


def test_a_scan_of_files_just_written_waits_for_each_and_tags_them_all(
    library: Library, control: EmulatorControl
) -> None:
    """Files written a moment ago settle first; the scan must not end while the settler
    hands them to the job table (it did: "scan finished", exit 0, all of them pending)."""
    control.settings(queued_polls=0, processing_polls=0)
    # every file settles (written within the last 2 s); a line per file: a wider window
    library.configure(api={"batch_size": 50}, log_level="debug", watch={"settle_seconds": 2.0})
    contents = [samples.jpeg(n) for n in range(20)]
    for n in range(1000):  # written at once, so that they settle and are queued together
        (library.photos / f"IMG_{n:05d}.jpg").write_bytes(contents[n % len(contents)])
    done = library.cli("scan", "--yes")
    assert done.returncode == 0, done.stderr[-2000:]
    assert library.counts()["done"] == 1000


@pytest.mark.slow
def test_progress_is_a_live_display_on_a_terminal_and_log_lines_elsewhere(
    library: Library,
) -> None:
    photos = library.photos
    samples.write_library(photos, 12)
    plain = library.cli("scan")
    assert plain.returncode == 0
    progress = [line for line in plain.stderr.splitlines() if '"progress"' in line]
    assert progress and '"finished": 12' in progress[-1] and '"total": 12' in progress[-1]
    lines = plain.stderr.splitlines()
    assert '"scan finished"' in lines[-1]  # the last word; no progress line after it
    for path in photos.glob("*.json"):
        path.unlink()
    (photos / "more").mkdir()
    samples.write_library(photos / "more", 6, start=100)
    screen = run_on_terminal(
        [sys.executable, "-m", "visionati_sync", "-c", str(library.config), "scan"], library.env
    )
    assert "6/6" in screen and "files/s" in screen and "credits" in screen


def run_on_terminal(command: list[str], env: dict[str, str]) -> str:
    """Run a command with a pseudo-terminal as its stdin, stdout and stderr; return the screen."""
    master, slave = pty.openpty()
    process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    output = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        elif process.poll() is not None:
            break
    process.wait(timeout=10)
    os.close(master)
    assert process.returncode == 0, output.decode(errors="replace")[-2000:]
    return output.decode(errors="replace")


@pytest.mark.slow
def test_a_request_never_exceeds_its_byte_cap(library: Library, control: EmulatorControl) -> None:
    for n in range(4):
        (library.photos / f"big{n}.png").write_bytes(samples.png_of_size(n, 500_000))
    library.configure(api={"max_request_bytes": 1_048_576})
    assert library.cli("scan").returncode == 0
    sizes: list[Any] = [len(entry["file_names"]) for entry in control.uploads()]
    assert sizes == [1, 1, 1, 1]  # 4 × 667 KB of base64: one per 1 MiB request
