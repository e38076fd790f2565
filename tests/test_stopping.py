"""A scan that stops early (a budget, no credits, Ctrl-C) collects what it has paid for before
it leaves: every request already sent is polled and its sidecars written, and nothing more
is uploaded. A second Ctrl-C leaves them to the next run, which collects them without paying
again. `scan` runs as the user runs it: a process, signalled, against the emulator."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from support import EmulatorControl, Library, wait_until
from visionati_sync.devtools import samples


def sidecars(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.xmp"))


def photos(library: Library, count: int) -> None:
    samples.write_library(library.photos, count)


def started_scan(library: Library, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "visionati_sync", "-c", str(library.config), "scan", "--yes"],
            stdout=subprocess.DEVNULL, stderr=stderr, env=library.env,
        )  # fmt: skip


def test_a_scan_stopped_by_its_budget_collects_what_it_paid_for(
    library: Library, control: EmulatorControl
) -> None:
    photos(library, 20)  # 9 credits each at the defaults
    control.settings(queued_polls=3, processing_polls=3)  # still with the API at the stop
    library.configure(api={"max_credits_total": 50})
    result = library.cli("scan", "--yes")
    assert result.returncode == 2, result.stderr
    assert "total budget of 50 credits reached (45 spent)" in result.stderr
    assert "collecting the results already paid for" in result.stderr
    assert sum(entry["credits"] for entry in control.uploads()) == 45
    assert len(sidecars(library.photos)) == 5  # what was paid for is on disk
    counts = library.counts()
    assert (counts["done"], counts["pending"], counts["submitted"]) == (5, 15, 0)
    status = library.cli("status").stdout
    assert "total budget of 50 credits reached (45 spent)" in status


def test_a_scan_stopped_by_no_credits_collects_what_it_paid_for(
    library: Library, control: EmulatorControl
) -> None:
    photos(library, 20)
    control.settings(credits=45, queued_polls=3, processing_polls=3)
    library.configure(api={"batch_size": 5})  # 45 credits: the first request takes them all
    result = library.cli("scan", "--yes")
    assert result.returncode == 2, result.stderr
    assert "No credits." in result.stderr
    assert len(control.uploads()) == 1
    assert len(sidecars(library.photos)) == 5
    assert library.counts()["done"] == 5


def test_ctrl_c_once_stops_uploads_and_collects_what_went(
    library: Library, control: EmulatorControl, tmp_path: Path
) -> None:
    photos(library, 40)
    control.settings(delay=1.5)  # each request is with the API for a while
    scan = started_scan(library, tmp_path / "scan.log")
    wait_until(lambda: control.uploads(), 30, 0.05, "a first upload")
    scan.send_signal(signal.SIGINT)
    assert scan.wait(timeout=60) == 1  # interrupted
    text = (tmp_path / "scan.log").read_text()
    assert "collecting the results already paid for" in text
    uploaded = control.uploaded_hashes()
    assert 0 < len(uploaded) < 40  # it stopped uploading
    assert len(sidecars(library.photos)) == len(uploaded)  # and collected every one
    assert library.counts()["submitted"] == 0
    # the rest is tagged by the next scan; nothing is paid twice
    control.settings(delay=0)
    assert library.cli("scan", "--yes").returncode == 0
    assert len(sidecars(library.photos)) == 40
    assert max(Counter(control.uploaded_hashes()).values()) == 1


def test_ctrl_c_twice_leaves_what_went_to_the_next_run(
    library: Library, control: EmulatorControl, tmp_path: Path
) -> None:
    photos(library, 40)
    control.settings(delay=60)  # the API holds every request a minute
    log = tmp_path / "scan.log"
    scan = started_scan(library, log)
    wait_until(lambda: control.uploads(), 30, 0.05, "a first upload")
    scan.send_signal(signal.SIGINT)
    wait_until(lambda: "collecting the results" in log.read_text(), 30, 0.05, "collecting")
    scan.send_signal(signal.SIGINT)
    assert scan.wait(timeout=20) == 1
    text = log.read_text()
    assert "requests left with the API at a second signal" in text
    left = {r["id"] for r in control.requests() if not r["completed"]}
    assert left and all(request_id in text for request_id in left)  # each one named
    sent = len(control.uploaded_hashes())
    # the next run collects them: no upload of those files again
    control.settings(delay=0)
    assert library.cli("scan", "--yes").returncode == 0
    assert len(sidecars(library.photos)) == 40
    assert max(Counter(control.uploaded_hashes()).values()) == 1
    assert len(control.uploaded_hashes()) == 40 and sent < 40


def test_a_request_held_past_the_collect_timeout_is_left_to_the_next_run_and_named(
    library: Library, control: EmulatorControl
) -> None:
    photos(library, 20)
    control.settings(delay=60)  # the API holds every request a minute
    library.configure(api={"max_credits_total": 50}, scan={"collect_timeout": 1})
    result = library.cli("scan", "--yes", timeout=30)
    assert result.returncode == 2, result.stderr
    (request,) = control.requests()
    assert "requests left with the API after scan.collect_timeout" in result.stderr
    assert request["id"] in result.stderr
    control.settings(delay=0)
    library.configure(api={"max_credits_total": 1000})
    assert library.cli("scan", "--yes").returncode == 0  # collected, and the rest tagged
    assert len(sidecars(library.photos)) == 20
    assert max(Counter(control.uploaded_hashes()).values()) == 1


SIGNALLED_WHILE_LOGGING = """
import os, signal, sys, threading, time
from visionati_sync import log
from visionati_sync.service.starting import install_signals

log.configure("info", stream=open(os.devnull, "w"), json=True)
got = []
install_signals(lambda: got.append(1))
logger = log.get_logger("test")

def signal_often():
    for _ in range(3000):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.0002)

sender = threading.Thread(target=signal_often)
sender.start()
while sender.is_alive():  # the main thread logs: a signal lands mid-line again and again
    logger.info("a line", n=len(got))
print(len(got))
"""


def test_a_signal_in_the_middle_of_a_log_line_never_hangs_the_process() -> None:
    """A handler that logged waited for ever on the log's lock held by the line it
    interrupted: SIGTERM hung a daemon busy saying something."""
    done = subprocess.run([sys.executable, "-c", SIGNALLED_WHILE_LOGGING], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) > 100  # the signals were handled
