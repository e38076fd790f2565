"""What an operator uses: status, jobs, retry, re-tagging; and the small mechanisms behind
them, with injected clocks."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from support import EmulatorControl, Library, clean_env, cli, wait_until
from visionati_sync.devtools import samples
from visionati_sync.sidecars.atomic import TEMP_SUFFIX, is_stale_temp


@pytest.mark.slow
def test_status_reports_counts_spend_pauses_and_backend_errors(
    library: Library, control: EmulatorControl
) -> None:
    control.settings(backend_errors=[{"backend": "googlevision", "error": "Quota exceeded"}])
    samples.write_library(library.photos, 3)
    (library.photos / "notes.jpg").write_text("not a photo")
    assert library.cli("scan").returncode == 0  # a skipped file is not a failure
    status = library.status()
    assert status["counts"] == {
        "pending": 0, "submitted": 0, "done": 3, "failed": 0, "skipped": 1, "review": 0,
        "untagged": 0,
    }  # fmt: skip
    spent = {"total": 27, "today": 27, "last_24h": 27, "open": 0}  # 9 a photo
    assert status["credits_spent"] == spent
    assert status["last_balance"] == 100_000 - 27
    assert status["paused"] is None
    assert status["backend_errors"][0]["errors"] == [
        {"backend": "googlevision", "error": "Quota exceeded"}
    ]
    assert status["recent_errors"][0]["error"].startswith("not an image")
    text = library.cli("status").stdout
    assert "done: 3" in text and "Quota exceeded" in text


@pytest.mark.slow
def test_retry_puts_failed_files_back(library: Library, control: EmulatorControl) -> None:
    samples.write_library(library.photos, 2)
    library.configure(api={"max_attempts": 1})
    # the batch of two fails, then each file alone: with max_attempts 1, both end failed
    control.faults({"method": "POST", "path": "/api/fetch", "times": 3,
                    "fail_request": "Request failed: try later"})  # fmt: skip
    assert library.cli("scan").returncode == 1
    failed = library.json("jobs", "--state", "failed")
    assert len(failed) == 2
    assert library.cli("retry").returncode == 2  # says what it needs
    result = library.cli("retry", str(failed[0]["id"]))
    assert result.stdout.strip() == "1 failed file(s) queued again"
    assert library.counts()["pending"] == 1
    assert library.cli("retry", "--all").stdout.strip() == "1 failed file(s) queued again"
    assert library.cli("scan").returncode == 0
    assert library.counts()["done"] == 2


@pytest.mark.slow
def test_changing_options_retags_only_on_demand(library: Library, control: EmulatorControl) -> None:
    samples.write_library(library.photos, 3)
    assert library.cli("scan").returncode == 0
    assert len(control.uploads()) == 1
    library.configure(api={"backends": ["clarifai"]})  # an option that shapes the result
    assert library.cli("scan").returncode == 0
    assert len(control.uploads()) == 1  # not silently
    result = library.cli("scan", "--retag")
    assert result.returncode == 0 and "3 file(s) tagged under other options" in result.stderr
    assert len(control.uploads()) == 2
    assert library.cli("scan", "--retag").returncode == 0
    assert len(control.uploads()) == 2  # all current now


@pytest.mark.slow
def test_a_changed_file_is_retagged_unless_told_not_to(
    library: Library, control: EmulatorControl
) -> None:
    samples.write_library(library.photos, 2)
    assert library.cli("scan").returncode == 0
    first = sorted(library.photos.glob("IMG_*.png"))[0]
    first.write_bytes(samples.png(999))  # edited
    os.utime(first, (time.time() - 60, time.time() - 60))
    assert library.cli("scan").returncode == 0
    assert len(control.uploads()) == 2
    library.configure(watch={"retag_on_change": False})
    first.write_bytes(samples.png(1000))
    os.utime(first, (time.time() - 30, time.time() - 30))
    assert library.cli("scan").returncode == 0
    assert len(control.uploads()) == 2


def test_only_temporary_files_of_dead_writers_are_stale() -> None:
    now = time.time()
    mine = f".IMG_1.jpg.xmp.abc123{TEMP_SUFFIX}"
    assert not is_stale_temp(mine, now, now)  # this process is alive
    dead = mine.replace(f"-{os.getpid()}.", "-999999999.")
    assert is_stale_temp(dead, now, now)
    assert is_stale_temp(mine, now - 2 * 86400, now)  # a day old: whoever wrote it is gone
    assert not is_stale_temp(".IMG_1.jpg.xmp", now - 2 * 86400, now)  # not one of ours


@pytest.mark.slow
def test_status_names_the_daemons_that_run_and_forgets_the_dead(library: Library) -> None:
    assert "no daemon running" in library.cli("status").stdout
    with library.daemon("first.log") as first:
        wait_until(lambda: library.status()["daemons"], 30, what="a heartbeat")
        (daemon,) = library.status()["daemons"]
        assert (daemon["host"], daemon["pid"]) == (socket.gethostname(), first.process.pid)
        assert daemon["kind"] == "run" and daemon["alive"]
        shown = f"run {daemon['host']}:{daemon['pid']} ({daemon['worker'][:6]}): running"
        assert shown in library.cli("status").stdout
        first.stop(signal.SIGKILL)  # gone without a word: status still lists it
    assert [d["worker"] for d in library.status()["daemons"]] == [daemon["worker"]]
    with library.daemon("second.log") as second:
        wait_until(
            lambda: [d["pid"] for d in library.status()["daemons"]] == [second.process.pid],
            30, what="the dead daemon forgotten",
        )  # fmt: skip
        assert second.stop() == 0
    assert library.status()["daemons"] == []  # a clean stop says so


def test_retry_says_which_jobs_it_could_not_retry(library: Library) -> None:
    samples.write_library(library.photos, 1)
    assert library.cli("scan").returncode == 0
    result = library.cli("retry", "1", "9999")
    assert result.returncode == 1
    assert result.stdout.strip() == "0 failed file(s) queued again"
    assert "job 1: done, not failed" in result.stderr
    assert "job 9999: no such job" in result.stderr


def test_without_a_config_every_place_looked_at_is_named(tmp_path: Path) -> None:
    result = cli(None, "status", env=clean_env(tmp_path))
    assert result.returncode == 2
    assert "no config file: looked for $VISIONATI_SYNC_CONFIG (not set), " in result.stderr
    assert f"{tmp_path}/.config/visionati-sync/config.yaml" in result.stderr
    assert "/etc/visionati-sync/config.yaml; give one with -c FILE" in result.stderr


def test_scan_of_a_folder_not_in_the_config_tags_it_too(library: Library) -> None:
    elsewhere = library.tmp / "elsewhere"
    photos = samples.write_library(elsewhere, 2)
    result = library.cli("scan", str(elsewhere), timeout=60)
    assert result.returncode == 0, result.stderr
    assert all((p.parent / f"{p.name}.xmp").exists() for p in photos)
