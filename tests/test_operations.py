"""What an operator uses: status, jobs, retry, re-tagging; and the small mechanisms behind
them, with injected clocks."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from support import EmulatorControl, base_config, clean_env, cli, cli_json, write_config
from visionati_sync import samples
from visionati_sync.emulator import Emulator
from visionati_sync.sidecars.atomic import TEMP_SUFFIX, is_stale_temp
from visionati_sync.watcher import Settler


def setup(tmp_path: Path, emulator: Emulator, count: int, **overrides: object) -> tuple[Path, Path]:
    photos = tmp_path / "photos"
    samples.write_library(photos, count)
    config = write_config(
        tmp_path / "config.yaml", base_config(emulator.url, tmp_path, [photos], **overrides)
    )
    return photos, config


@pytest.mark.slow
def test_status_reports_counts_spend_pauses_and_backend_errors(
    tmp_path: Path, emulator: Emulator, control: EmulatorControl
) -> None:
    control.settings(backend_errors=[{"backend": "googlevision", "error": "Quota exceeded"}])
    photos, config = setup(tmp_path, emulator, 3)
    (photos / "notes.jpg").write_text("not a photo")
    env = clean_env(tmp_path)
    assert cli(config, "scan", env=env).returncode == 0  # a skipped file is not a failure
    status = cli_json(config, "status", env=env)
    assert status["counts"] == {"pending": 0, "submitted": 0, "done": 3, "failed": 0, "skipped": 1}
    assert status["credits_spent"] == {"total": 27, "last_24h": 27}  # 9 credits a photo
    assert status["last_balance"] == 100_000 - 27
    assert status["paused"] is None
    assert status["backend_errors"][0]["errors"] == [
        {"backend": "googlevision", "error": "Quota exceeded"}
    ]
    assert status["recent_errors"][0]["error"].startswith("not an image")
    text = cli(config, "status", env=env).stdout
    assert "done: 3" in text and "Quota exceeded" in text


@pytest.mark.slow
def test_retry_puts_failed_files_back(
    tmp_path: Path, emulator: Emulator, control: EmulatorControl
) -> None:
    _, config = setup(tmp_path, emulator, 2, api={"max_attempts": 1})
    control.faults({"method": "POST", "path": "/api/fetch", "times": 1,
                    "fail_request": "Request failed: try later"})  # fmt: skip
    env = clean_env(tmp_path)
    assert cli(config, "scan", env=env).returncode == 1
    failed = cli_json(config, "jobs", "--state", "failed", env=env)
    assert len(failed) == 2
    assert cli(config, "retry", env=env).returncode == 2  # says what it needs
    result = cli(config, "retry", str(failed[0]["id"]), env=env)
    assert result.stdout.strip() == "1 failed file(s) queued again"
    assert cli_json(config, "status", env=env)["counts"]["pending"] == 1
    assert cli(config, "retry", "--all", env=env).stdout.strip() == "1 failed file(s) queued again"
    assert cli(config, "scan", env=env).returncode == 0
    assert cli_json(config, "status", env=env)["counts"]["done"] == 2


@pytest.mark.slow
def test_changing_options_retags_only_on_demand(
    tmp_path: Path, emulator: Emulator, control: EmulatorControl
) -> None:
    photos, config = setup(tmp_path, emulator, 3)
    env = clean_env(tmp_path)
    assert cli(config, "scan", env=env).returncode == 0
    assert len(control.uploads()) == 1
    write_config(  # the user changes an option that shapes the result
        config, base_config(emulator.url, tmp_path, [photos], api={"backends": ["clarifai"]})
    )
    assert cli(config, "scan", env=env).returncode == 0
    assert len(control.uploads()) == 1  # not silently
    result = cli(config, "scan", "--retag", env=env)
    assert result.returncode == 0 and "3 file(s) tagged under other options" in result.stderr
    assert len(control.uploads()) == 2
    assert cli(config, "scan", "--retag", env=env).returncode == 0
    assert len(control.uploads()) == 2  # all current now


@pytest.mark.slow
def test_a_changed_file_is_retagged_unless_told_not_to(
    tmp_path: Path, emulator: Emulator, control: EmulatorControl
) -> None:
    photos, config = setup(tmp_path, emulator, 2)
    env = clean_env(tmp_path)
    assert cli(config, "scan", env=env).returncode == 0
    first = sorted(photos.glob("IMG_*.png"))[0]
    first.write_bytes(samples.png(999))  # edited
    os.utime(first, (time.time() - 60, time.time() - 60))
    assert cli(config, "scan", env=env).returncode == 0
    assert len(control.uploads()) == 2
    write_config(
        config,
        base_config(emulator.url, tmp_path, [photos], watch={"retag_on_change": False}),
    )
    first.write_bytes(samples.png(1000))
    os.utime(first, (time.time() - 30, time.time() - 30))
    assert cli(config, "scan", env=env).returncode == 0
    assert len(control.uploads()) == 2


def test_a_file_that_never_stops_changing_is_taken_after_the_maximum_wait() -> None:
    now = [0.0]
    size = [1]
    settler = Settler(2.0, clock=lambda: now[0], stat=lambda _: (size[0], size[0]), max_wait=10.0)
    taken = []
    for _ in range(30):
        settler.touch("/f", "log.jpg")  # written to every half second
        size[0] += 1
        now[0] += 0.5
        taken += settler.ready()[0]
    assert (len(taken) == 1 and 10.0 <= now[0] <= 11.0 + 0.5) or len(taken) == 1


def test_only_temporary_files_of_dead_writers_are_stale() -> None:
    now = time.time()
    mine = f".IMG_1.jpg.xmp.abc123{TEMP_SUFFIX}"
    assert not is_stale_temp(mine, now, now)  # this process is alive
    dead = mine.replace(f"-{os.getpid()}.", "-999999999.")
    assert is_stale_temp(dead, now, now)
    assert is_stale_temp(mine, now - 2 * 86400, now)  # a day old: whoever wrote it is gone
    assert not is_stale_temp(".IMG_1.jpg.xmp", now - 2 * 86400, now)  # not one of ours
