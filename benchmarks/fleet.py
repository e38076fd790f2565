"""Fleet benchmarks: several daemons on one PostgreSQL job table (a throwaway server).

Each compares side by side in one run on this machine:
  e. files/s of 1, 2 and 4 daemons (`run`, each with its own in-flight cap, defaults
     otherwise) sharing one folder of 800 photos, the emulator answering each request after
     1 s: how the fleet scales with daemons, start-up included;
  f. a rescan of 50,000 unchanged files with the job table on PostgreSQL vs on SQLite,
     rounds interleaved.

Usage: .venv/bin/python benchmarks/fleet.py [scaling|rescan]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml
from sqlalchemy import create_engine, text

from backfill import KEY, VS, Row, emulator, run_parts, small_library, unchanged_tree
from visionati_sync import log
from visionati_sync.config import FolderSettings, load_config
from visionati_sync.devtools.pgserver import PostgresServer
from visionati_sync.jobtable import engine as engines
from visionati_sync.jobtable.schema import Job
from visionati_sync.records import State
from visionati_sync.service.daemon import Service

PHOTOS = 800


def fleet_config(
    folder: Path, url: str, database: str, photos: Path, lease_seconds: float = 60.0
) -> Path:
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump({
        "api": {"base_url": url, "key": KEY},
        "database": {"url": database, "lease_seconds": lease_seconds},
        "folders": [{"path": str(photos), "name": "share"}],
        "watch": {"settle_seconds": 0.5},
        "log_level": "warning",
    }))  # fmt: skip
    return config


def done(database: str) -> int:
    engine = create_engine(database)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(text("SELECT count(*) FROM jobs WHERE state = 'done'")).scalar_one()
            )
    finally:
        engine.dispose()


def cpu_ticks() -> tuple[int, int]:
    """The machine's CPU time so far, (busy, all), from /proc/stat."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def run_fleet(
    scratch: Path, url: str, postgres: PostgresServer, daemons: int
) -> tuple[float, float, float]:
    """``daemons`` daemons started together on a fresh database and a fresh folder: seconds
    until every photo is done, seconds from 10% to 90% of them done (the steady state, without
    start-up and the last poll cycle), and how busy the machine's CPUs were (0–1)."""
    photos = scratch / f"photos-{daemons}"
    small_library(photos, PHOTOS)
    database = postgres.create_database(f"fleet_{daemons}")
    engine = engines.make_engine(database)
    engines.upgrade(engine)  # measured: the daemons' work, not the first one's migration
    engine.dispose()
    configs = []
    for n in range(daemons):
        folder = scratch / f"d{daemons}-{n}"
        folder.mkdir()
        configs.append(fleet_config(folder, url, database, photos))
    started, (busy0, all0) = time.perf_counter(), cpu_ticks()
    processes = [
        subprocess.Popen([*VS, "-c", str(c), "run"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        for c in configs
    ]  # fmt: skip
    marks: dict[int, float] = {}
    try:
        while (count := done(database)) < PHOTOS:
            now = time.perf_counter()
            for mark in (PHOTOS // 10, PHOTOS * 9 // 10):
                if count >= mark:
                    marks.setdefault(mark, now)
            if now - started > 600:
                raise TimeoutError(f"{daemons} daemons did not finish in 10 minutes")
            time.sleep(0.05)
        wall = time.perf_counter() - started
        busy1, all1 = cpu_ticks()
        steady = marks[PHOTOS * 9 // 10] - marks[PHOTOS // 10]
        return wall, steady, (busy1 - busy0) / max(1, all1 - all0)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def scaling(scratch: Path) -> list[Row]:
    rows: list[Row] = []
    with (
        PostgresServer() as postgres,
        emulator("--delay", "1", "--queued-polls", "0", "--processing-polls", "0") as url,
    ):
        runs = {n: run_fleet(scratch, url, postgres, n) for n in (1, 2, 4)}
    rates = {n: PHOTOS / wall for n, (wall, _, _) in runs.items()}
    steady = {n: PHOTOS * 0.8 / middle for n, (_, middle, _) in runs.items()}
    for n, rate in rates.items():
        rows.append((f"e. {PHOTOS} photos, API answering after 1 s: {n} daemon(s)",
                     f"{rate:.1f} files/s in all, {steady[n]:.1f} from 10% to 90% "
                     f"({runs[n][2]:.0%} of the CPUs busy)",
                     f"{rate / rates[1]:.2f}×, {steady[n] / steady[1]:.2f}× one"))  # fmt: skip
    return rows


def rescan(scratch: Path, count: int = 50_000, rounds: int = 5) -> list[Row]:
    tree = scratch / "tree"
    unchanged_tree(tree, count)  # the same library as backfill's rescan
    log.configure("warning")
    with PostgresServer() as postgres:
        services = {}
        for engine, database in (
            ("SQLite", f"sqlite:///{scratch / 'state.db'}"),
            ("PostgreSQL", postgres.create_database("rescan")),
        ):
            folder = scratch / engine
            folder.mkdir()
            config_path = folder / "config.yaml"
            config_path.write_text(yaml.safe_dump({
                "api": {"base_url": "http://127.0.0.1:9", "key": KEY},
                "database": {"url": database}, "folders": [{"path": str(tree)}],
            }))  # fmt: skip
            service = Service(load_config(config_path))
            service.intake.scan([FolderSettings(path=tree)])  # the first scan queues them
            with service.table.engine.begin() as conn:  # as if tagged
                conn.execute(Job.__table__.update().values(state=State.DONE))
            services[engine] = service
        times: dict[str, list[float]] = {name: [] for name in services}
        for _ in range(rounds):  # interleaved, so both meet the same machine
            for name, service in services.items():
                started = time.perf_counter()
                assert service.intake.scan([FolderSettings(path=tree)]) == 0
                times[name].append(time.perf_counter() - started)
        for service in services.values():
            service.table.close()
    sqlite, pg = statistics.median(times["SQLite"]), statistics.median(times["PostgreSQL"])
    return [
        (f"f. rescan of {count:,} unchanged files, job table on SQLite", f"{sqlite:.3f} s", ""),
        ("   the same on PostgreSQL (loopback)", f"{pg:.3f} s", f"{pg / sqlite:.1f}× SQLite"),
    ]


BENCHMARKS = {"scaling": scaling, "rescan": rescan}


def main(names: list[str] | None = None) -> list[Row]:
    return run_parts(BENCHMARKS, names, "vs-bench-fleet-")


if __name__ == "__main__":
    for row in main(sys.argv[1:] or None):
        print("| " + " | ".join(row) + " |", flush=True)
