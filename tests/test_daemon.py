"""The real daemon as a subprocess, watching real folders, talking to the emulator over HTTP."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from support import (
    EmulatorControl,
    Library,
    base_config,
    clean_env,
    cli,
    drop_privileges,
    wait_until,
    write_config,
)
from visionati_sync.api.options import RequestOptions
from visionati_sync.devtools import samples
from visionati_sync.devtools.emulator import Emulator, synthesize_asset

pytestmark = pytest.mark.slow

DEFAULT_OPTIONS = RequestOptions(("tags", "descriptions"), (), "general", "English", None, 0.9)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sidecar(path: Path) -> dict:
    return json.loads(path.with_name(path.name + ".visionati.json").read_text())


def test_fifty_images_copied_in_at_once_each_tagged_once_with_its_own_result(
    tmp_path: Path, library: Library, control: EmulatorControl
) -> None:
    control.settings(queued_polls=3, processing_polls=3)
    photos = library.photos
    library.configure(watch={"settle_seconds": 1.0}, log_level="debug")  # a line per file
    staging = tmp_path / "staging"
    quick = samples.write_library(staging, 40)
    slow = {f"slow_{n:02d}.png": samples.png_of_size(1000 + n, 48_000) for n in range(10)}

    def write_slowly(name: str, data: bytes) -> None:
        step = len(data) // 8 + 1
        with (photos / name).open("wb") as handle:
            for start in range(0, len(data), step):  # 8 chunks over about 3 seconds
                handle.write(data[start : start + step])
                handle.flush()
                time.sleep(0.4)

    with library.daemon() as daemon:
        wait_until(lambda: daemon.logged("watching folder"), 30, what="the watch to start")
        writers = [threading.Thread(target=write_slowly, args=item) for item in slow.items()]
        for writer in writers:
            writer.start()
        for path in quick:
            shutil.copy(path, photos / path.name)
        for writer in writers:
            writer.join()
        library.wait_for("done", 50, 120)
        assert daemon.alive()
        started = time.monotonic()
        assert daemon.stop() == 0
        assert time.monotonic() - started < 10

    images = sorted(p for p in photos.iterdir() if p.suffix in (".jpg", ".png"))
    assert len(images) == 50
    # every line about a file names its job (but the settler's: it has none yet)
    about_files = [r for r in daemon.lines() if "path" in r and r["event"] != "file complete"]
    assert len(about_files) >= 50
    assert all(r.get("job_id") for r in about_files), "a line about a file without its job id"
    fields = DEFAULT_OPTIONS.payload_fields()
    for image in images:
        document = sidecar(image)
        assert document["sha256"] == sha(image), image.name
        sent_as = document["asset"]["name"]  # the name it went by: ours, not the user's
        assert sent_as.startswith("v") and image.stem not in sent_as
        assert document["asset"] == synthesize_asset(sent_as, image.read_bytes(), fields)
    uploaded = Counter(control.uploaded_hashes())
    assert sorted(uploaded) == sorted(sha(p) for p in images)  # nothing partial went out
    assert set(uploaded.values()) == {1}  # and nothing twice
    assert library.counts() == {
        "pending": 0, "submitted": 0, "done": 50, "failed": 0, "skipped": 0, "review": 0,
        "untagged": 0,
    }  # fmt: skip


def test_bad_files_fail_alone_with_a_clear_reason_and_the_daemon_goes_on(
    tmp_path: Path, library: Library, control: EmulatorControl
) -> None:
    photos, later = library.photos, tmp_path / "not-yet-mounted"
    (photos / "good.jpg").write_bytes(samples.jpeg(1))
    (photos / "empty.jpg").write_bytes(b"")
    (photos / "notes.jpg").write_text("this is a text file with an image name")
    (photos / "locked.jpg").write_bytes(samples.jpeg(2))
    (photos / "locked.jpg").chmod(0)
    (photos / "doomed.jpg").write_bytes(samples.jpeg(3))
    long_ago = time.time() - 3600
    for path in photos.iterdir():
        os.utime(path, (long_ago, long_ago))  # complete: queued by the start-up scan
    # the first upload is rate limited: all files wait in the queue while doomed.jpg goes
    control.faults(
        {
            "method": "POST",
            "path": "/api/fetch",
            "status": 429,
            "headers": {"Retry-After": "3"},
            "body": {"error": "slow down"},
        }
    )
    library.configure([photos, later])
    with library.daemon(wrapper=drop_privileges()) as daemon:
        wait_until(lambda: daemon.logged("submissions paused"), 30, what="the rate-limit pause")
        (photos / "doomed.jpg").unlink()
        library.wait_for("done", 1, 60)
        missing = daemon.logged("folders[1].path: directory does not exist")
        assert missing and missing[0]["folder"] == str(later)
        jobs = library.jobs()
        assert "doomed.jpg" not in jobs
        # the watcher's delete event or the submitter's check, whichever comes first
        vanished = daemon.logged("before upload; dropped from the queue")
        assert vanished and vanished[0]["path"] == str(photos / "doomed.jpg")
        assert vanished[0]["job_id"]
        assert (jobs["empty.jpg"]["state"], jobs["empty.jpg"]["error"]) == (
            "skipped",
            "the file is empty (0 bytes)",
        )
        assert jobs["notes.jpg"]["state"] == "skipped"
        assert jobs["notes.jpg"]["error"].startswith("not an image")
        assert (jobs["locked.jpg"]["state"], jobs["locked.jpg"]["error"]) == (
            "failed",
            "cannot read: Permission denied",
        )
        assert jobs["good.jpg"]["state"] == "done"
        # the share comes back: its folder is watched and its files are tagged
        later.mkdir()
        wait_until(lambda: daemon.logged("watching folder", folder=str(later)), 20)
        (later / "late.png").write_bytes(samples.png(9))
        library.wait_for("done", 2, 60)
        assert daemon.alive()
        assert daemon.stop() == 0
    assert sidecar(later / "late.png")["sha256"] == sha(later / "late.png")
    assert not (photos / "empty.jpg.visionati.json").exists()
    hashes = control.uploaded_hashes()
    assert hashlib.sha256(samples.jpeg(3)).hexdigest() not in hashes  # doomed never went out


def test_a_wrong_key_pauses_uploads_without_a_storm_and_leaks_nowhere(
    tmp_path: Path, library: Library, control: EmulatorControl
) -> None:
    wrong = "sk-wrong-but-secret-0123456789"
    samples.write_library(library.photos, 5)
    library.configure(api={"key": wrong, "auth_retry_interval": 1})
    with library.daemon() as daemon:
        paused = wait_until(lambda: daemon.logged("submissions paused"), 30)
        assert paused[0]["reason"] == "API key rejected: Access denied."
        # it goes on: three calls in all, the refused upload and two key checks
        calls = wait_until(lambda: len(c := control.log()) >= 3 and c, 30, 0.1)
        status = library.status()
        assert status["paused"]["kind"] == "auth"
        assert status["counts"]["pending"] == 5
        assert daemon.alive()
        assert daemon.stop() == 0
    assert all(e["path"] == "/api/fetch" for e in control.log())  # key checks cost nothing
    gaps = [b["time"] - a["time"] for a, b in itertools.pairwise(calls)]
    assert min(gaps) >= 0.9, gaps  # a check every auth_retry_interval, never a storm
    assert not list(library.photos.glob("*.visionati.json"))
    for place in [daemon.log_path, *tmp_path.glob("state.db*")]:
        assert wrong.encode() not in place.read_bytes(), place


def test_a_valid_key_never_reaches_logs_database_or_sidecars(
    tmp_path: Path, library: Library, control: EmulatorControl
) -> None:
    secret = "sk-live-do-not-leak-9876543210"
    control.settings(keys=[secret])
    samples.write_library(library.photos, 3)
    library.configure(api={"key": None}, log_level="debug")
    library.env["VISIONATI_API_KEY"] = secret
    result = library.cli("scan")
    assert result.returncode == 0, result.stderr
    places = [*tmp_path.glob("state.db*"), *library.photos.glob("*.json")]
    assert len(places) >= 4
    assert secret not in result.stderr + result.stdout
    for place in places:
        assert secret.encode() not in place.read_bytes(), place


def test_malformed_config_stops_with_file_key_and_reason(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("api:\n  batch_size: lots\nfolders:\n  - recursive: true\n")
    result = cli(config, "run", env=clean_env(tmp_path))
    assert result.returncode == 2
    assert f"{config}: api.batch_size: Input should be a valid integer" in result.stderr
    assert f"{config}: folders[0].path: Field required" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_key_stops_with_a_clear_error(tmp_path: Path, emulator: Emulator) -> None:
    config = write_config(
        tmp_path / "config.yaml", base_config(emulator.url, tmp_path, [], api={"key": None})
    )
    result = cli(config, "run", env=clean_env(tmp_path))
    assert result.returncode == 2
    assert "no API key; set VISIONATI_API_KEY, api.key_file or api.key" in result.stderr


def test_run_with_no_folders_says_so_and_with_only_a_missing_one_says_it_waits(
    library: Library,
) -> None:
    library.configure([])
    result = library.cli("run", timeout=30)
    assert result.returncode == 2
    assert "folders: none configured, so there is nothing to watch" in result.stderr
    library.configure([library.tmp / "not-mounted"])
    with library.daemon() as daemon:
        (missing,) = wait_until(lambda: daemon.logged(
            f"{library.config}: folders[0].path: directory does not exist"), 15)  # fmt: skip
        assert missing["hint"].startswith("no configured folder exists, so nothing is watched")
        assert "other folders" not in missing["hint"]


def test_kill_9_then_restart_resumes_without_uploading_again(
    library: Library, control: EmulatorControl
) -> None:
    control.settings(queued_polls=1000)  # requests stay outstanding while we kill
    samples.write_library(library.photos, 12)
    with library.daemon("first.log") as daemon:
        library.wait_for("submitted", 12)
        daemon.stop(signal.SIGKILL)
    control.settings(queued_polls=1)
    with library.daemon("second.log") as daemon:
        library.wait_for("done", 12, 60)
        assert daemon.stop() == 0
    hashes = Counter(control.uploaded_hashes())
    assert len(hashes) == 12 and set(hashes.values()) == {1}


def test_the_journal_gets_a_progress_line_not_a_line_per_file(
    library: Library, control: EmulatorControl
) -> None:
    """At info, routine outcomes of single files (uploaded, tagged, served from the cache)
    stay out of the log; progress lines say how many files were done; a problem is still
    said at once. At debug every file has its line."""
    photos = samples.write_library(library.photos, 24)
    shutil.copy(photos[0], library.photos / "copy.jpg")  # a cache hit, or a ride
    (library.photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    library.configure(log_progress_interval=0.5)
    with library.daemon() as daemon:
        library.wait_for("done", 25, timeout=60)
        wait_until(lambda: sum(r.get("done_since", 0) for r in daemon.logged("progress")) == 25,
                   20, 0.2, "progress lines counting 25 files done")  # fmt: skip
        routine = [r for r in daemon.lines() if r.get("level") == "info" and r.get("path")]
        assert [r["event"] for r in routine] == [], routine  # no line for any single file
        problem = [r for r in daemon.lines() if "broken.jpg" in str(r.get("path"))]
        assert problem and problem[0]["level"] == "warning"  # said at once
    library.configure(log_level="debug")
    samples.write_library(library.photos, 3, start=100)
    result = library.cli("scan")
    assert result.returncode == 0
    tagged = [line for line in result.stderr.splitlines() if '"tagged"' in line]
    assert len(tagged) == 3


def test_the_first_poll_comes_when_the_api_is_likely_done(
    library: Library, control: EmulatorControl
) -> None:
    """The API answers 0.3 s after an upload; `poll_interval` is 3 s. The daemon polls a
    new request a second after sending it while it knows nothing of the API's pace, then
    about when the API is done (never less than a second apart), not 3 s after."""
    control.settings(queued_polls=0, processing_polls=0, delay=0.3)
    library.configure(api={"poll_interval": 3.0}, watch={"settle_seconds": 0.2})
    staging = library.tmp / "staging"
    photos = samples.write_library(staging, 6)
    with library.daemon():
        for n, photo in enumerate(photos, 1):  # one at a time, as into a drop folder
            shutil.copy(photo, library.photos / photo.name)
            library.wait_for("done", n, timeout=30)
    log = control.log()
    sent = {e["request_id"]: e["time"] for e in log if e.get("path") == "/api/fetch"
            and e.get("request_id")}  # fmt: skip
    first_poll: dict[str, float] = {}
    for entry in log:
        if entry.get("method") == "GET" and entry.get("request_id") in sent:
            first_poll.setdefault(entry["request_id"], entry["time"])
    waits = [first_poll[r] - sent[r] for r in sorted(sent, key=sent.__getitem__)]
    assert max(waits) < 2.0, waits  # a second at first, then what is learnt: never three
