"""The job table's server goes away, as PostgreSQL servers do (a minor upgrade, a failover, a
NAS that boots before the database host): the daemons wait for it, say so once, keep
systemd's watchdog fed, and go on when it is back, with every photo tagged and nothing paid
twice. Each test has a PostgreSQL server of its own, stopped and started for real."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import (
    Daemon,
    EmulatorControl,
    Fleet,
    Library,
    NotifySocket,
    clean_env,
    wait_until,
)
from visionati_sync.devtools import samples
from visionati_sync.devtools.emulator import Emulator
from visionati_sync.devtools.pgserver import PostgresServer

pytestmark = pytest.mark.slow


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for this test alone: it is stopped and started."""
    with PostgresServer() as own:
        yield own


def outage(server: PostgresServer, seconds: float) -> None:
    server.halt()
    time.sleep(seconds)  # the outage itself: how long the server is away
    server.resume()


def test_a_fleet_rides_out_two_restarts_of_its_database(
    tmp_path: Path, emulator: Emulator, control: EmulatorControl, server: PostgresServer
) -> None:
    """Three daemons, 600 photos, the API taking a second a request; the server stopped for
    3 s, then for longer than the daemons' leases: every photo tagged, none paid twice."""
    lease = 6.0
    fleet = Fleet(tmp_path, emulator.url, server.create_database("fleet"), lease)
    photos = samples.write_library(fleet.share, 600)
    control.settings(delay=1.0, answer_after=0.5)  # an outage catches answers on their way
    try:
        daemons = fleet.start(3)
        wait_until(lambda: fleet.done() >= 100, 120, 0.2, "a hundred photos done")
        outage(server, 3)
        wait_until(lambda: fleet.done() >= 250, 120, 0.2, "250 photos done")
        assert fleet.done() < 500  # the work goes on: the next outage comes in the middle of it
        outage(server, lease + 4)
        wait_until(lambda: fleet.done() == 600, 180, 0.5, "every photo done")
        uploads = Counter(control.uploaded_hashes())
        assert len(uploads) == 600 and max(uploads.values()) == 1  # none paid twice
        assert all(daemon.alive() for daemon in daemons)
        assert all(p.with_name(p.name + ".xmp").exists() for p in photos)
        for daemon in daemons:  # said once an outage, not a traceback per stage per try
            assert daemon.logged("unexpected error") == []
            said = daemon.logged("waiting for the job table")
            assert 1 <= len(said) <= 6, [r["event"] for r in said]
            assert len(daemon.logged("the job table is back")) == 2
    finally:
        for daemon in fleet.daemons:
            daemon.stop()
        fleet.stack.close()


def make_fleet(tmp_path: Path, emulator: Emulator, server: PostgresServer) -> Fleet:
    return Fleet(tmp_path, emulator.url, server.create_database(f"f{uuid.uuid4().hex[:8]}"))


def pg_library(library: Library, server: PostgresServer) -> str:
    """The library's job table on the test's server."""
    url = server.create_database(f"lib_{uuid.uuid4().hex[:8]}")
    library.configure(database={"url": url, "lease_seconds": 6})
    library.env.update(NOTIFY_SOCKET="", WATCHDOG_USEC="")
    return url


def under_systemd(library: Library, notify: NotifySocket) -> None:
    library.env.update(NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="1000000")


def test_a_daemon_started_while_its_database_is_down_waits_for_it_then_tags(
    library: Library, server: PostgresServer, notify: NotifySocket
) -> None:
    pg_library(library, server)
    under_systemd(library, notify)
    server.halt()  # a power cut: the daemon's machine is up before the database's
    with library.daemon() as daemon:
        (ready,) = wait_until(lambda: notify.with_key("READY"), 30, 0.1, "READY=1")
        assert ready["STATUS"].startswith("waiting for the job table: ")
        assert "the database cannot be reached" in ready["STATUS"]
        since = notify.now()
        time.sleep(3.2)  # a sign of life every half second (WATCHDOG_USEC / 2): waiting
        assert len(notify.with_key("WATCHDOG", since)) >= 4  # is not hanging
        assert daemon.alive() and len(daemon.logged("waiting for the job table")) == 1
        status = library.cli("status")  # the user asks meanwhile: one line, what and where
        assert status.returncode == 2 and "the database cannot be reached" in status.stderr
        assert "Traceback" not in status.stderr
        server.resume()
        samples.write_library(library.photos, 3)
        library.wait_for("done", 3, timeout=60)
        wait_until(lambda: any(s["STATUS"].startswith("3 done") for s in
                               notify.with_key("STATUS")), 30, 0.1, "STATUS: 3 done")  # fmt: skip
        assert daemon.logged("the job table is back")
        since = notify.now()
        server.halt()  # and again while it runs: said, and the watchdog still fed

        def waiting() -> bool:
            said = notify.with_key("STATUS", since)
            return any(s["STATUS"].startswith("waiting for the job table") for s in said)

        wait_until(waiting, 30, 0.1, "STATUS: waiting")
        since = notify.now()
        time.sleep(2.2)  # a sign of life every half second: waiting is not hanging
        assert len(notify.with_key("WATCHDOG", since)) >= 3
        server.resume()
        samples.write_library(library.photos, 2, start=3)
        library.wait_for("done", 5, timeout=60)
        assert daemon.stop() == 0


def test_a_daemon_on_a_standby_waits_until_it_is_promoted(
    library: Library, server: PostgresServer, notify: NotifySocket
) -> None:
    """A failover: the daemon's database is a read-only hot standby (streaming from the
    primary) until it is promoted."""
    primary = pg_library(library, server)
    assert library.cli("db", "upgrade").returncode == 0  # the primary's schema, replicated
    with PostgresServer().start(standby_of=server) as standby:
        url = standby.url(primary.rsplit("/", 1)[1])
        library.configure(database={"url": url, "lease_seconds": 6})
        under_systemd(library, notify)
        samples.write_library(library.photos, 2)
        with library.daemon() as daemon:
            wait_until(lambda: daemon.logged("waiting for the job table"), 30, 0.1, "waiting")
            (said,) = daemon.logged("waiting for the job table")
            assert "the database takes no writes" in said["event"]
            (ready,) = wait_until(lambda: notify.with_key("READY"), 30, 0.1, "READY=1")
            assert "takes no writes" in ready["STATUS"]
            time.sleep(2)
            assert daemon.alive() and library.counts()["done"] == 0
            standby.promote()
            library.wait_for("done", 2, timeout=60)
            assert daemon.stop() == 0


def test_an_upload_answered_while_the_database_is_down_is_recorded_after_a_kill(
    library: Library, control: EmulatorControl, server: PostgresServer
) -> None:
    """The API takes a request (and its credits); its answer comes back while the database
    is down; the daemon is killed before it could record it. The next start records it from
    the journal: nothing is paid again."""
    pg_library(library, server)
    control.settings(answer_after=2.0, queued_polls=0, processing_polls=0)
    with library.daemon("first.log") as first:
        wait_until(lambda: first.logged("daemon started"), 30, 0.1, "started")
        photos = samples.write_library(library.photos, 4)
        wait_until(lambda: control.uploads(), 30, 0.05, "the upload taken by the API")
        server.halt()  # while its answer is on its way
        wait_until(lambda: first.logged("kept in the journal"), 30, 0.1, "kept in the journal")
        first.stop(signal.SIGKILL)
    server.resume()
    ((request_id, hashes),) = [(u["request_id"], u["sha256"]) for u in control.uploads()]
    assert len(hashes) == 4
    with library.daemon("second.log") as second:
        library.wait_for("done", 4, timeout=60)
        assert second.logged("recorded an upload the API answered", request_id=request_id)
        assert second.stop() == 0
    assert [u["request_id"] for u in control.uploads()] == [request_id]  # paid once
    assert all(p.with_name(p.name + ".xmp").exists() for p in photos)


CLONED = 'hostname cloned && exec "$0" "$@"'


def cloned(tmp: Path) -> list[str]:
    """A command prefix: the daemon as PID 1 of a new PID namespace, on a host named
    "cloned" (a new UTS namespace): two of them are one host and one pid."""
    return ["unshare", "--pid", "--fork", "--uts", "--mount-proc", "--kill-child",
            "sh", "-c", CLONED]  # fmt: skip


def inner_pid(daemon: Daemon) -> int:
    """The daemon's own pid, as seen from here, under unshare and sh."""
    children = Path(f"/proc/{daemon.process.pid}/task/{daemon.process.pid}/children")
    return int(wait_until(lambda: children.read_text().split(), 10, 0.05, "the daemon")[0])


def test_two_daemons_of_one_host_name_and_pid_never_release_each_others_claims(
    tmp_path: Path, emulator: Emulator, control: EmulatorControl, server: PostgresServer
) -> None:
    """Two containers started from one image: the same host name, each daemon PID 1. Each
    is its own worker: both listed, both working, and one stopping gives back only its own
    claims, never the other's mid-upload (which would then be paid for twice)."""
    probe = subprocess.run([*cloned(tmp_path), "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"no PID and UTS namespaces here: {probe.stderr.decode().strip()}")
    fleet = make_fleet(tmp_path, emulator, server)
    samples.write_library(fleet.share, 160)
    control.settings(answer_after=0.5, delay=0.5)
    _, b = fleet.daemons = [
        Daemon(fleet.config(n, api={"batch_size": 4}), tmp_path / f"daemon-{n}.log",
               clean_env(tmp_path / f"home-{n}"), wrapper=cloned(tmp_path))
        for n in range(2)
    ]  # fmt: skip
    try:
        wait_until(lambda: fleet.done() >= 40, 60, 0.2, "forty photos done")
        listed = fleet.status()["daemons"]
        os.kill(inner_pid(b), signal.SIGTERM)  # b stops cleanly while a uploads
        assert b.process.wait(30) == 0
        wait_until(lambda: fleet.done() == 160, 120, 0.5, "every photo done")
        uploads = Counter(control.uploaded_hashes())
        assert len(uploads) == 160 and max(uploads.values()) == 1
        assert [(d["host"], d["pid"]) for d in listed] == [("cloned", 1)] * 2  # two workers
    finally:
        for daemon in fleet.daemons:
            if daemon.alive():
                os.kill(inner_pid(daemon), signal.SIGTERM)
                daemon.process.wait(30)
            daemon.__exit__()
