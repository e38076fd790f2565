"""Several daemons on one PostgreSQL job table, as real processes against the emulator: they
share a folder's work with every file paid once and every sidecar written once, take back a
killed daemon's work when its leases lapse, and never spend past a fleet-wide cap."""

from __future__ import annotations

import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import EmulatorControl, Fleet, Library, wait_until
from visionati_sync.devtools import samples
from visionati_sync.devtools.emulator import Emulator
from visionati_sync.devtools.pgserver import PostgresServer

pytestmark = pytest.mark.slow
LEASE = 3.0  # seconds: short, so a killed daemon's work comes back soon


@pytest.fixture
def fleet(tmp_path: Path, emulator: Emulator, postgres: PostgresServer) -> Iterator[Fleet]:
    # an empty database, as a new user's: the daemons starting together migrate it once
    url = postgres.create_database(f"fleet_{uuid.uuid4().hex[:8]}")
    group = Fleet(tmp_path, emulator.url, url, LEASE)
    yield group
    for daemon in group.daemons:
        daemon.stop()
    group.stack.close()


def make(fleet: Fleet, photos: int) -> list[Path]:
    return samples.write_library(fleet.share, photos)


def test_three_daemons_share_a_folder_each_file_paid_once_each_sidecar_written_once(
    fleet: Fleet, control: EmulatorControl
) -> None:
    photos = make(fleet, 600)
    daemons = fleet.start(3)
    wait_until(lambda: fleet.done() == 600, 180, 0.5, "600 files done")
    uploads = Counter(control.uploaded_hashes())
    assert len(uploads) == 600 and set(uploads.values()) == {1}  # each file paid once
    assert fleet.tagged() == Counter({p.name: 1 for p in photos})  # each sidecar written once
    assert all(daemon.logged("tagged") for daemon in daemons)  # and all three did a share
    assert [r for d in daemons for r in d.logged("unexpected error")] == []  # no deadlock
    assert all((p.parent / f"{p.name}.xmp").exists() for p in photos)
    seen = fleet.status()["daemons"]
    assert sorted((d["host"], d["pid"]) for d in seen) == sorted(
        (socket.gethostname(), d.process.pid) for d in daemons
    )
    assert len({d["worker"] for d in seen}) == 3


def test_a_killed_daemons_work_is_taken_back_within_its_lease(
    fleet: Fleet, control: EmulatorControl
) -> None:
    photos = make(fleet, 240)
    control.settings(delay=1.0)  # requests stay in flight a while: there is work to orphan
    first, *others = fleet.start(3)
    wait_until(lambda: len(first.logged("uploaded")) >= 2, 60, 0.1, "the first daemon uploading")
    (worker,) = [d["worker"] for d in fleet.status()["daemons"] if d["pid"] == first.process.pid]
    first.process.kill()
    first.process.wait()
    killed_at = time.monotonic()
    held = (
        "SELECT count(*) FROM jobs WHERE locked_by = :worker UNION ALL "
        "SELECT count(*) FROM api_requests WHERE polled_by = :worker "
        "AND status IN ('queued', 'processing', 'sending')"
    )
    within = LEASE * 4 / 3 + 3  # the lease, a renewal's interval, and time to notice
    wait_until(lambda: all(n == 0 for (n,) in fleet.rows(held, worker=worker)), within, 0.1,
               "the killed daemon's claims taken back")  # fmt: skip
    assert time.monotonic() - killed_at <= within
    wait_until(lambda: fleet.done() == 240, 120, 0.5, "240 files done")
    uploads = Counter(control.uploaded_hashes())
    assert len(uploads) == 240
    # at most the one request the killed daemon was sending (its submitter is one thread)
    assert sum(n - 1 for n in uploads.values()) <= 8
    assert all(fleet.tagged()[p.name] >= 1 for p in photos)
    assert all(daemon.alive() for daemon in others)
    assert [r for d in others for r in d.logged("unexpected error")] == []


def test_a_fleet_wide_budget_is_never_overspent_by_daemons_racing_for_it(
    fleet: Fleet, control: EmulatorControl
) -> None:
    make(fleet, 40)
    start = control.settings()["credits"]
    cap = 100  # 9 credits a photo at the defaults: 11 photos
    fleet.start(3, api={"max_credits_total": cap})
    wait_until(lambda: fleet.done() == 11, 60, 0.5, "11 files done")
    wait_until(lambda: fleet.status()["paused"], 30, 0.5, "the fleet paused by its budget")
    charged = start - control.settings()["credits"]
    assert cap - 9 < charged <= cap
    assert fleet.done() == 11


def test_a_sqlite_job_table_copied_to_postgresql_pays_for_nothing_again(
    library: Library, control: EmulatorControl, postgres: PostgresServer
) -> None:
    samples.write_library(library.photos, 5)
    assert library.cli("scan").returncode == 0
    target = postgres.create_database(f"copy_{uuid.uuid4().hex[:8]}")
    named = f"{library.photos}=studio"
    result = library.cli("db", "copy", "--to", target, "--folder-name", named)
    assert result.returncode == 0, result.stderr
    assert "copied 5 files, 5 results and 1 requests" in result.stdout
    library.configure([{"path": str(library.photos), "name": "studio"}], database={"url": target})
    samples.write_library(library.photos, 2, start=5)
    assert library.cli("scan").returncode == 0
    assert library.counts()["done"] == 7
    assert len(control.uploaded_hashes()) == 7  # the five copied were not sent again
    paths = [job["path"] for job in library.json("jobs")]
    assert len(paths) == 7 and all(p.startswith(f"{library.photos}/") for p in paths)
    estimate = library.json("estimate")
    assert (estimate["done"], estimate["to_upload"]) == (7, 0)  # nothing done looks undone
    again = library.cli("db", "copy", "--to", target)
    assert again.returncode == 1 and "already holds a job table" in again.stderr


def test_a_key_rejected_for_one_daemon_pauses_every_daemon_until_one_finds_it_works(
    fleet: Fleet, control: EmulatorControl
) -> None:
    make(fleet, 6)
    (quick,) = fleet.start(1, api={"auth_retry_interval": 2})
    slow = fleet.start(2, api={"auth_retry_interval": 300})  # would wait 5 minutes alone
    wait_until(lambda: fleet.done() == 6, 60, 0.3, "the first photos done")
    control.settings(keys=[])  # the account's key is revoked
    samples.write_library(fleet.share, 30, start=6)
    wait_until(
        lambda: all(d.logged("submissions paused", why="auth") for d in [quick, *slow]), 30,
        0.3, "every daemon paused for the rejected key",
    )  # fmt: skip
    assert fleet.status()["paused"]["kind"] == "auth"
    assert fleet.done() == 6
    control.settings(keys=["emulator-key"])  # the key works again: one finds it, all go on
    wait_until(lambda: all(d.logged("submissions resumed") for d in slow), 30, 0.3,
               "the slow daemons resumed, told by the quick one")  # fmt: skip
    wait_until(lambda: fleet.done() == 36, 60, 0.3, "every photo done")
    assert fleet.status()["paused"] is None
