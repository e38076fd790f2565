"""The million-file library (issue 15, part 4), side by side in one run:
  j. a first `scan` of FILES small photos with DISTINCT contents (the results cache serves
     all but the first of each): files/s, CPU, peak RSS and the RSS as it went (flat or
     growing), the job table's bytes per file;
  k. `status` over that table, and `python -c pass`;
  l. a rescan of the unchanged library vs `find -printf '%s %T@'` over the same tree
     (start-up excluded: the rescan is the daemon's own scan, timed in-process);
  m. `estimate` over it (a process, start-up included), against that rescan.

Usage: .venv/bin/python benchmarks/million.py [FILES] [DISTINCT]   (default 1,000,000 and
10,000; on a 2-core machine, about an hour for the million: the tree alone holds three
million files once tagged). Needs ~4 GB free beside the system's temporary folder.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from backfill import VS, Row, _verdict, emulator, write_config
from visionati_sync import log
from visionati_sync.config import FolderSettings, load_config
from visionati_sync.devtools import samples
from visionati_sync.service.daemon import Service

PER_FOLDER = 1000


def library(root: Path, files: int, distinct: int) -> None:
    """``files`` photos in folders of a thousand, each a copy of one of ``distinct`` small
    JPEGs, long complete (a scan need not wait for them to settle)."""
    contents = [samples.jpeg(n) for n in range(distinct)]
    old = time.time() - 3600
    for start in range(0, files, PER_FOLDER):
        folder = root / f"{start // PER_FOLDER:04d}"
        folder.mkdir(parents=True)
        for n in range(start, min(start + PER_FOLDER, files)):
            path = folder / f"IMG_{n:07d}.jpg"
            path.write_bytes(contents[n % distinct])
            os.utime(path, (old, old))


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def first_scan(config: Path) -> tuple[float, float, int, list[int]]:
    """`scan --yes` as a process: wall s, CPU s, peak RSS KB, and its RSS every ten seconds."""
    samples_kb: list[int] = []
    started = time.perf_counter()
    process = subprocess.Popen(
        [*VS, "-c", str(config), "scan", "--yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    finished = threading.Event()

    def watch() -> None:
        while not finished.wait(10):
            samples_kb.append(rss_kb(process.pid))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, status, usage = os.wait4(process.pid, 0)
    finished.set()
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    assert code == 0, process.stderr.read().decode()[-2000:] if process.stderr else ""
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, samples_kb


def cache_hit_rate(database: Path, files: int, distinct: int) -> float:
    """Files/s while the cache serves every file: from the moment the first tenth of the
    copies past the distinct contents (which are uploads, at the protocol's pace) was done,
    to the last file."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:

        def done_at(n: int) -> datetime:
            query = (
                "SELECT done_at FROM jobs WHERE state = 'done' ORDER BY done_at LIMIT 1 OFFSET ?"
            )
            return datetime.fromisoformat(conn.execute(query, (n,)).fetchone()[0])

        first, last = distinct + (files - distinct) // 10, files - 1
        return (last - first) / (done_at(last) - done_at(first)).total_seconds()


def timed(command: list[str], rounds: int = 3) -> float:
    """The median wall time of a command."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def find(path: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["find", str(path), "-type", "f", "-printf", "%s %T@\n"], stdout=subprocess.DEVNULL,
        check=True,
    )  # fmt: skip
    return time.perf_counter() - started


def million(scratch: Path, files: int = 1_000_000, distinct: int = 10_000) -> list[Row]:
    tree = scratch / "library"
    started = time.perf_counter()
    library(tree, files, distinct)
    made = time.perf_counter() - started
    print(f"library of {files:,} made in {made:.0f} s", file=sys.stderr, flush=True)
    with emulator("--queued-polls", "0", "--processing-polls", "0") as url:
        config = write_config(scratch, url, tree)
        os.sync()
        wall, cpu, peak_kb, rss = first_scan(config)
    database = scratch / "state.db"
    hits = cache_hit_rate(database, files, distinct)
    size = sum(p.stat().st_size for p in scratch.glob("state.db*"))
    quarters = [rss[len(rss) * q // 4] // 1024 for q in range(1, 4)] if len(rss) >= 4 else []
    status = timed([*VS, "-c", str(config), "status"])
    bare = timed([sys.executable, "-c", "pass"])

    # the rescan, in-process (start-up excluded), against find over the same tree
    log.configure("warning")
    service = Service(load_config(config))
    ours, theirs = [], []
    for _ in range(3):  # interleaved, so both meet the same machine
        begun = time.perf_counter()
        queued = service.intake.scan([FolderSettings(path=tree)])
        ours.append(time.perf_counter() - begun)
        assert queued == 0, f"a rescan of the unchanged library queued {queued}"
        theirs.append(find(tree))
    service.table.close()
    rescan, walk = statistics.median(ours), statistics.median(theirs)
    estimate = timed([*VS, "-c", str(config), "estimate", str(tree)], rounds=1)
    return [
        (f"j. first `scan` of {files:,} files, {distinct:,} distinct contents (cache hits)",
         f"{files / wall:,.0f} files/s ({wall / 60:.1f} min), {cpu / files * 1000:.2f} CPU "
         f"s/1,000", ""),
        ("   of which the cache hits (the last nine tenths of the copies)",
         f"{hits:,.0f} files/s", _verdict(hits >= 2000)),
        ("   peak RSS; at a quarter, half, three quarters of the way",
         f"{peak_kb // 1024} MB; {', '.join(f'{q} MB' for q in quarters)}",
         _verdict(peak_kb // 1024 <= 250)),
        ("   the job table on disk", f"{size / files:.0f} bytes/file "
         f"({database.stat().st_size / 2**20:,.0f} MB)", _verdict(size / files <= 1024)),
        ("k. `status` over it (`python -c pass`)", f"{status:.2f} s ({bare:.2f} s)",
         _verdict(status <= 0.5)),
        ("l. rescan of the unchanged library, in-process (3 rounds, median)",
         f"{rescan:.1f} s", ""),
        ("   find -printf '%s %T@' over the same tree (photos and sidecars)", f"{walk:.1f} s", ""),
        ("   ratio (target ≤ 3×)", f"{rescan / walk:.1f}×", _verdict(rescan <= 3 * walk)),
        ("m. `estimate` over it (a process)", f"{estimate:.1f} s, {estimate / rescan:.1f}× the "
         "rescan", _verdict(estimate <= 10 * rescan)),
    ]  # fmt: skip


def main(args: list[str] | None = None) -> list[Row]:
    numbers = [int(a.replace(",", "").replace("_", "")) for a in (args or [])]
    with tempfile.TemporaryDirectory(prefix="vs-bench-million-") as scratch:
        return million(Path(scratch), *numbers)


if __name__ == "__main__":
    for row in main(sys.argv[1:]):
        print(" | ".join(row), flush=True)
