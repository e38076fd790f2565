"""The job table's bad days: damaged, read-only, locked by another program. Each is said
plainly (the file, what happened, what to do), never as a traceback, and nothing that
arrives meanwhile is lost."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

from support import EmulatorControl, Library, wait_until
from visionati_sync.devtools import samples

COMMANDS = [["status"], ["jobs"], ["estimate"], ["scan"], ["run"], ["retry", "--all"]]


def test_a_damaged_job_table_is_a_clear_error_for_every_command(library: Library) -> None:
    database = library.tmp / "state.db"
    database.write_bytes(b"this is not what SQLite wrote " * 100)
    samples.write_library(library.photos, 2)
    for command in COMMANDS:
        result = library.cli(*command, timeout=30)
        assert result.returncode == 2, (command, result.stderr)
        assert f"{database}: the job table is damaged (file is not a database)" in result.stderr
        assert "Traceback" not in result.stderr, command
    check = library.cli("db", "check")
    assert check.returncode == 1 and "file is not a database" in check.stdout
    assert database.read_bytes() == b"this is not what SQLite wrote " * 100  # untouched


def test_a_job_table_this_user_cannot_write_is_read_but_never_written(
    library: Library,
) -> None:
    samples.write_library(library.photos, 2)
    assert library.cli("scan").returncode == 0
    state = library.tmp / "state"
    state.mkdir()
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        if (library.tmp / name).exists():
            (library.tmp / name).rename(state / name)
    library.configure(database={"url": f"sqlite:///{state / 'state.db'}"})
    for path in state.iterdir():
        path.chmod(0o444)
    state.chmod(0o555)
    try:
        status = library.cli("status", "--json", as_user=True)
        assert status.returncode == 0, status.stderr
        assert '"done": 2' in status.stdout
        scan = library.cli("scan", as_user=True)
        assert scan.returncode == 2
        assert f"{state / 'state.db'}: the job table is read-only to this user" in scan.stderr
        assert "Traceback" not in scan.stderr
    finally:
        state.chmod(0o755)


def test_a_new_job_table_and_its_folder_are_private(tmp_path: Path, library: Library) -> None:
    state = tmp_path / "private" / "state"
    library.configure(database={"url": f"sqlite:///{state / 'jobs.db'}"})
    assert library.cli("db", "upgrade").returncode == 0
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "jobs.db").stat().st_mode) == 0o600
    samples.write_library(library.photos, 1)
    assert library.cli("scan").returncode == 0
    for path in state.iterdir():  # -wal and -shm too
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_files_that_settle_while_the_table_is_locked_are_kept_until_it_is_back(
    library: Library,
) -> None:
    library.configure(
        database={"busy_timeout": 0.5}, watch={"rescan_interval": 0}, log_level="debug"
    )
    with library.daemon() as daemon:
        wait_until(lambda: daemon.logged("watching folder"), 30)
        backup = sqlite3.connect(library.tmp / "state.db", isolation_level=None)
        backup.execute("BEGIN IMMEDIATE")  # another program holds the job table
        try:
            (library.photos / "during.jpg").write_bytes(samples.jpeg(1))
            refused = "the job table refused; trying again"
            wait_until(lambda: daemon.logged(refused, stage="settler"), 30)  # it settled
            locked = "waiting for the job table: "
            (said,) = daemon.logged(locked)  # once, whichever stage met it first
            assert "the job table is locked by another program" in said["event"]
        finally:
            backup.execute("ROLLBACK")
            backup.close()
        library.wait_for("done", 1)
        assert daemon.alive()
        assert daemon.stop() == 0
    assert (library.photos / "during.jpg.xmp").exists()
    assert not daemon.logged("periodic rescan")  # not found again by a rescan: kept
    assert not [line for line in daemon.lines() if "Traceback" in str(line)]


def test_polls_a_failed_step_had_taken_are_not_held_for_ever(
    library: Library, control: EmulatorControl
) -> None:
    """The poller takes the requests that are due, then meets the job table locked while it
    polls the first: its step fails. What it took is no longer renewed (it was, for as long
    as the daemon ran: no daemon polled those requests again, their files stayed submitted
    and a scan never ended); it lapses and is polled again."""
    library.configure(
        api={"batch_size": 4},
        database={"busy_timeout": 0.5, "lease_seconds": 3},
        log_level="debug",
    )
    control.settings(queued_polls=100_000)  # the API holds the requests
    samples.write_library(library.photos, 12)
    with library.daemon() as daemon:
        library.wait_for("submitted", 12)
        polls = len([e for e in control.log() if e.get("path", "").startswith("/api/response/")])
        control.faults({"method": "GET", "path": "/api/response/", "delay": 2.0, "times": 1})
        wait_until(lambda: [e for e in control.log() if e.get("fault")], 30, 0.05, "a slow poll")
        backup = sqlite3.connect(library.tmp / "state.db", isolation_level=None)
        backup.execute("BEGIN IMMEDIATE")  # the job table locked while that poll is slow
        refused = "the job table refused; trying again"
        wait_until(lambda: daemon.logged(refused, stage="poller"), 30, 0.1, "the poller failing")
        backup.execute("ROLLBACK")
        backup.close()
        control.settings(queued_polls=0, processing_polls=0)  # the API has the answers
        library.wait_for("done", 12, timeout=30)
        assert len(control.log()) > polls and daemon.alive()
        assert daemon.stop() == 0


def test_a_job_table_damaged_in_its_middle_is_one_line_for_every_command(
    library: Library,
) -> None:
    """The damage found not at open (the header is whole) but by a query: still one line
    naming the file and what to do, never a traceback."""
    samples.write_library(library.photos, 100)
    assert library.cli("scan").returncode == 0
    database = library.tmp / "state.db"
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
    assert pages > 8
    with database.open("r+b") as handle:  # the second half: its schema and revision whole
        for page in range(pages // 2, pages):
            handle.seek(page * page_size)
            handle.write(bytes([0xA5]) * page_size)
    damaged = database.read_bytes()
    for command in [["status"], ["jobs"], ["costs"], ["estimate"], ["scan"], ["run"]]:
        result = library.cli(*command, timeout=60)
        assert result.returncode == 2, (command, result.stderr)
        assert "Traceback" not in result.stderr, command
        assert f"{database}: the job table is damaged" in result.stderr, command
        assert "`visionati-sync db check` says more" in result.stderr, command
        if command[0] in ("status", "jobs", "costs", "estimate"):  # they only read
            assert database.read_bytes() == damaged, command
    check = library.cli("db", "check")
    assert check.returncode == 1 and check.stdout
