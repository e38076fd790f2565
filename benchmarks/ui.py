"""The review page (issue 27), side by side in one run:
  n. the first page of the review grid with WAITING results waiting (10,000), beside the same
     page with 50 waiting: server time per load over loopback (median of 9), the target
     being 300 ms; the dashboard's JSON beside them;
  o. a page's 50 thumbnails, first load (each made: a JPEG decoded and shrunk) beside the
     second (read from the cache): the pictures made in each.

Usage: .venv/bin/python benchmarks/ui.py [WAITING]   (about a minute: the 10,000 results
come from a real scan against the emulator, copies of 100 distinct photos served by the
results cache; a folder in review mode keeps them waiting).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import yaml

from backfill import VS, Row, _verdict, emulator
from visionati_sync import log
from visionati_sync.config import load_config
from visionati_sync.devtools import samples
from visionati_sync.jobtable import JobTable
from visionati_sync.web.server import WebServer

DISTINCT = 100
TARGET_MS = 300.0


def library(root: Path, files: int) -> None:
    contents = [samples.jpeg(n) for n in range(DISTINCT)]
    old = time.time() - 3600
    for n in range(files):
        folder = root / f"{n // 1000:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"IMG_{n:06d}.jpg"
        path.write_bytes(contents[n % DISTINCT])
        os.utime(path, (old, old))


def waiting(scratch: Path, url: str, files: int) -> Path:
    """A folder of ``files`` photos scanned in review mode; returns its config."""
    photos = scratch / "photos"
    library(photos, files)
    config = scratch / "config.yaml"
    config.write_text(yaml.safe_dump({
        "api": {"base_url": url, "key": "emulator-key", "batch_size": 50},
        "database": {"url": f"sqlite:///{scratch / 'state.db'}"},
        "folders": [{"path": str(photos)}],
        "sidecars": {"apply": "review"},
        "log_level": "warning",
    }))  # fmt: skip
    subprocess.run([*VS, "-c", str(config), "scan", "--yes"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return config


def timed(session: requests.Session, url: str, runs: int = 9) -> float:
    """Median milliseconds of ``runs`` loads of ``url`` (one warm-up first)."""
    session.get(url, timeout=60).raise_for_status()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        session.get(url, timeout=60).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(config_path: Path, state: Path) -> tuple[float, float, float, int, int]:
    config = load_config(config_path)
    table = JobTable.open(config.database_url(), folders=config.folder_names())
    server = WebServer(table, config, "127.0.0.1:0", state)
    server.start()
    try:
        session = requests.Session()
        page = session.get(server.address, timeout=60)
        shown = re.search(r'id="waiting">(\d+)<', page.text)
        assert shown and int(shown.group(1)) == table.reports.counts()["review"], "not waiting"
        origin = server.address.split("/?")[0]
        grid = timed(session, origin + "/")
        status = timed(session, origin + "/api/status")
        ids = [int(i) for i in re.findall(r'data-job="(\d+)"', page.text)]
        started = time.perf_counter()
        for job_id in ids:
            session.get(f"{origin}/thumb/{job_id}", timeout=60).raise_for_status()
        first = (time.perf_counter() - started) * 1000
        made_first = server.thumbnails.made
        for job_id in ids:
            session.get(f"{origin}/thumb/{job_id}", timeout=60).raise_for_status()
        made_second = server.thumbnails.made - made_first
        return grid, status, first, made_first, made_second
    finally:
        server.stop()
        table.close()


def main(names: list[str] | None = None, files: int = 10_000) -> list[Row]:
    log.configure("warning")
    with tempfile.TemporaryDirectory(prefix="vs-bench-ui-") as scratch, emulator() as url:
        big = waiting(Path(scratch) / "big", url, files)
        small = waiting(Path(scratch) / "small", url, 50)
        big_grid, big_status, first, made_first, made_second = measure(big, Path(scratch) / "s1")
        small_grid, small_status, *_ = measure(small, Path(scratch) / "s2")
    return [
        (f"n. review page, {files:,} waiting (50 a page)", f"{big_grid:.0f} ms",
         f"{_verdict(big_grid <= TARGET_MS)} (≤ {TARGET_MS:.0f} ms); 50 waiting: "
         f"{small_grid:.0f} ms ({big_grid / small_grid:.1f}×)"),
        (f"n. dashboard JSON, {files:,} waiting", f"{big_status:.0f} ms",
         f"50 waiting: {small_status:.0f} ms"),
        ("o. a page's 50 thumbnails, first load", f"{first:.0f} ms",
         f"{made_first} made; second load: {made_second} made "
         f"({_verdict(made_second == 0)})"),
    ]  # fmt: skip


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    for row in main(files=count):
        print(" | ".join(row))
