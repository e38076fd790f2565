"""What riding out the database costs (issue 24), side by side in one run on this machine:
  j. a fleet of 3 daemons backfilling 600 photos (API answering after 1 s, each upload's
     answer coming back after 0.5 s, lease 15 s): the
     run as it is, against the same run with PostgreSQL stopped for 20 s in the middle (an
     outage longer than the lease): the time lost beyond the outage itself, and uploads
     paid twice (from the emulator's log);
  k. the journal that keeps each answered upload until the job table has it: an entry of
     8 files written (fsynced, with its folder) and removed, against what a request of 8
     files costs a scan of 1,000 small images with the API answering at once (wall time
     per request, the journal included).

Usage: .venv/bin/python benchmarks/outage.py [fleet|journal]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import requests

from backfill import VS, Row, emulator, run_parts, run_scan, small_library, write_config
from fleet import done, fleet_config
from visionati_sync.devtools.pgserver import PostgresServer

PHOTOS = 600
LEASE = 15.0
OUTAGE = 20.0


def run_fleet(
    scratch: Path, postgres: PostgresServer, name: str, outage: bool
) -> tuple[float, int]:
    """Three daemons on a fresh database and folder, and an emulator of their own: seconds
    until every photo is done, and how many photos were uploaded more than once; with
    ``outage``, the server is stopped for OUTAGE seconds once a third are done."""
    with emulator("--delay", "1", "--queued-polls", "0", "--processing-polls", "0") as url:
        # each upload's answer takes half a second to come back, as over a slow uplink: the
        # moment an outage may catch an answer the API has charged for
        requests.post(f"{url}/_emulator/settings", json={"answer_after": 0.5}, timeout=10)
        wall = _run_fleet(scratch, url, postgres, name, outage)
        log = requests.get(f"{url}/_emulator/log", timeout=30).json()
    uploads = Counter(h for e in log if e.get("path") == "/api/fetch" for h in e.get("sha256", []))
    return wall, sum(1 for n in uploads.values() if n > 1)


def _run_fleet(scratch: Path, url: str, postgres: PostgresServer, name: str, outage: bool) -> float:
    photos = scratch / f"photos-{name}"
    small_library(photos, PHOTOS)
    database = postgres.create_database(name)
    configs = []
    for n in range(3):
        folder = scratch / f"{name}-{n}"
        folder.mkdir()
        configs.append(fleet_config(folder, url, database, photos, lease_seconds=LEASE))
    env = {"HOME": str(scratch / name), "PATH": "/usr/bin:/bin"}
    started = time.perf_counter()
    processes = [
        subprocess.Popen([*VS, "-c", str(c), "run"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env | {"XDG_STATE_HOME": str(c.parent)})
        for c in configs
    ]  # fmt: skip
    try:
        stopped = False
        while True:
            try:
                count = done(database)
            except Exception:  # the server is away: that is the point
                count = 0
            if count >= PHOTOS:
                break
            if outage and not stopped and count >= PHOTOS // 3:
                stopped = True
                postgres.halt()
                threading.Timer(OUTAGE, postgres.resume).start()
                time.sleep(OUTAGE + 1)
            if time.perf_counter() - started > 600:
                raise TimeoutError("the fleet did not finish in 10 minutes")
            time.sleep(0.1)
        return time.perf_counter() - started
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def fleet(scratch: Path, rounds: int = 2) -> list[Row]:
    calm: list[float] = []
    rough: list[float] = []
    twice = 0
    with PostgresServer() as postgres:
        for n in range(rounds):  # interleaved, so both meet the same machine
            for times, outage in ((calm, False), (rough, True)):
                wall, again = run_fleet(scratch, postgres, f"{'rough' if outage else 'calm'}{n}",
                                        outage)  # fmt: skip
                times.append(wall)
                twice += again
    lost = statistics.median(rough) - statistics.median(calm) - OUTAGE
    return [
        (f"j. {PHOTOS} photos, 3 daemons, API answering after 1 s, lease {LEASE:.0f} s: "
         "no outage", f"{statistics.median(calm):.1f} s ({', '.join(f'{t:.1f}' for t in calm)})",
         ""),
        (f"   PostgreSQL stopped for {OUTAGE:.0f} s once a third are done",
         f"{statistics.median(rough):.1f} s ({', '.join(f'{t:.1f}' for t in rough)})", ""),
        ("   time lost beyond the outage itself", f"{lost:.1f} s", ""),
        ("   photos paid twice, in all the runs", f"{twice}",
         "0: met" if twice == 0 else "MISSED"),
    ]  # fmt: skip


def journal(scratch: Path, entries: int = 300) -> list[Row]:
    from visionati_sync.api.options import RequestOptions
    from visionati_sync.pipeline.journal import Journal, PaidUpload
    from visionati_sync.records import Upload

    options = RequestOptions(("tags", "descriptions"), (), "general", "English", None, 0.9)
    uploads = [Upload(n, f"v{n}.jpg", "a" * 64, 30_000, 10**18, "b" * 64,
                      {"from": "original", "format": "jpeg"}) for n in range(8)]  # fmt: skip
    paid = PaidUpload("a-request-id", "https://api/response/x", options.as_dict(), uploads,
                      reservation="sending-x", credits_estimated=72, first_poll_in=1.0)  # fmt: skip
    kept = Journal(scratch / "state" / "journal", "bench")
    times = []
    for _ in range(entries):
        started = time.perf_counter()
        kept.done(kept.write(paid))
        times.append(time.perf_counter() - started)
    entry = statistics.median(times)
    with emulator("--queued-polls", "0", "--processing-polls", "0") as url:
        small_library(scratch / "b", 1000)
        wall, _, _ = run_scan(write_config(scratch, url, scratch / "b"))
        log = requests.get(f"{url}/_emulator/log", timeout=30).json()
    sent = sum(1 for e in log if e.get("path") == "/api/fetch" and e.get("request_id"))
    per_request = wall / sent
    return [
        ("k. a journal entry of 8 files kept and removed (2 fsyncs)",
         f"{entry * 1000:.2f} ms (median of {entries})", ""),
        (f"   a request of 8 files in a scan of 1,000 images, API answering at once ({sent} "
         "requests)", f"{per_request * 1000:.1f} ms", f"journal {entry / per_request:.1%}"),
    ]  # fmt: skip


BENCHMARKS = {"fleet": fleet, "journal": journal}


def main(names: list[str] | None = None) -> list[Row]:
    return run_parts(BENCHMARKS, names, "vs-bench-outage-")


if __name__ == "__main__":
    for row in main(sys.argv[1:] or None):
        print("| " + " | ".join(row) + " |", flush=True)
