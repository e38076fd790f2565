"""How long a command takes to start and answer, and what an idle daemon weighs (issue 28),
side by side in one run, medians of 7 processes each:
  p. `status`, `jobs` and `costs` on a job table of FILES files (a real scan against the
     emulator), alone and handed to the warm helper; `--help` of a verb and `--version`,
     beside `python -c pass` and `python -c "import sqlalchemy"`;
  q. `scan` with nothing new in those files: until its walk of them is done (ready: the
     first file is looked at before that), and start to exit;
  r. `run` over them: until "daemon started", and until its start-up scan is done;
  s. the memory of `run` idle over a library of IDLE files (all tagged), once its start-up
     scan is done, beside `python -c pass`;
  t. `status` over a table of 1,000,000 files (the FILES rows copied by SQL), alone and
     handed to the warm helper;
  u. `scan` of a library of 20,000 unchanged files, start to exit, beside `find -printf`.

Usage: .venv/bin/python benchmarks/startup.py [FILES [IDLE]]   (1,000 and 100,000; 2 minutes)
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import yaml

from backfill import VS, Row, _verdict, emulator, unchanged_tree
from visionati_sync import log
from visionati_sync.config import FolderSettings, load_config
from visionati_sync.devtools import samples
from visionati_sync.jobtable.schema import Job
from visionati_sync.records import State
from visionati_sync.service.daemon import Service

RUNS = 7
TARGET_READ = 0.25  # s, a read command at 1,000 files
TARGET_READY = 0.5  # s, `scan` and `run` before the first file
TARGET_IDLE_MB = 80  # an idle daemon over 100,000 files
TARGET_MILLION = 0.5  # s, a read command at 1,000,000 rows
MILLION = 1_000_000
RESCAN = 20_000  # files of the rescan: u
TARGET_RESCAN = 1.0  # s, a rescan of them with start-up


def seconds(command: list[str], env: dict[str, str]) -> float:
    """Median wall seconds of ``RUNS`` runs of a command (one warm-up first)."""
    return statistics.median(_runs(lambda: _timed(command, env)))


def _runs(measure: Callable[[], float]) -> list[float]:
    measure()  # warm-up
    return [measure() for _ in range(RUNS)]


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - started


def until(command: list[str], env: dict[str, str], events: list[str]) -> list[float]:
    """Seconds from starting ``command`` to each of ``events`` in its log (the log's own
    timestamps: one clock); the command is stopped after the last."""
    started = time.time()
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    seen: dict[str, float] = {}
    for line in process.stderr:
        event = json.loads(line)
        if event["event"] in events and event["event"] not in seen:
            stamp = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
            seen[event["event"]] = stamp.timestamp() - started
        if len(seen) == len(events):
            break
    process.terminate()
    process.wait()
    return [seen[e] for e in events]


def medians(command: list[str], env: dict[str, str], events: list[str]) -> list[float]:
    until(command, env, events)  # warm-up
    rounds = [until(command, env, events) for _ in range(RUNS)]
    return [statistics.median(column) for column in zip(*rounds, strict=True)]


def tagged_library(root: Path, name: str, count: int) -> Path:
    """A config over a library of ``count`` files, every one tagged long ago."""
    tree = root / name
    unchanged_tree(tree, count)
    config = root / f"{name}.yaml"
    config.write_text(yaml.safe_dump({
        "api": {"base_url": "http://127.0.0.1:9", "key": "emulator-key"},
        "database": {"url": f"sqlite:///{root / name}.db"},
        "folders": [{"path": str(tree)}], "log_level": "info",
    }))  # fmt: skip
    log.configure("warning")
    service = Service(load_config(config))
    service.intake.scan([FolderSettings(path=tree)])
    with service.table.engine.begin() as conn:
        conn.execute(Job.__table__.update().values(state=State.DONE))
    service.table.close()
    return config


def idle_memory(root: Path, count: int, env: dict[str, str]) -> tuple[float, float, float]:
    """RSS and unshared (private) MB of `run` over ``count`` tagged files once its start-up
    scan is done and it has sat idle for three seconds; and `python -c pass`'s RSS."""
    config = tagged_library(root, "idle", count)
    process = subprocess.Popen([*VS, "-c", str(config), "run"], env=env,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert process.stderr is not None
    for line in process.stderr:
        if json.loads(line)["event"] == "scanned folder":
            break
    time.sleep(3)  # idle: the watcher waits, the stages rest
    fields = {}
    for line in Path(f"/proc/{process.pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":")
        fields[name] = int(value.split()[0]) / 1024
    process.terminate()
    process.wait()
    script = "import re; print(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read())[1])"
    bare = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )  # fmt: skip  (not ru_maxrss: it keeps the parent's size)
    private = fields["Private_Clean"] + fields["Private_Dirty"]
    return fields["Rss"], private, int(bare.stdout) / 1024


def million(root: Path, config: Path) -> Path:
    """A config like ``config`` over a copy of its table grown to a million rows: its rows
    again and again under other names (and a few in each state but done, as a library in
    the making has them)."""
    database = root / "million.db"
    shutil.copy(root / "state.db", database)
    with sqlite3.connect(database) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(jobs)") if row[1] != "id"]
        rows = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
        copied = ", ".join(
            "CAST(relpath || '-' || n AS BLOB)" if c == "relpath" else c for c in columns
        )
        conn.execute(
            f"INSERT INTO jobs ({', '.join(columns)}) "  # noqa: S608
            f"WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < "
            f"{MILLION // rows - 1}) SELECT {copied} FROM jobs, k"
        )
        for state, every in (("pending", 97), ("failed", 89), ("writing", 101)):
            conn.execute("UPDATE jobs SET state = ?, error = 'x' WHERE id % ? = 0", (state, every))
    text = config.read_text().replace(str(root / "state.db"), str(database))
    grown = root / "million.yaml"
    grown.write_text(text)
    return grown


def main(names: list[str] | None = None, files: int = 1000, idle: int = 100_000) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="vs-bench-startup-") as scratch, emulator() as url:
        root = Path(scratch)
        photos = root / "photos"
        photos.mkdir()
        contents = [samples.jpeg(n) for n in range(50)]
        for n in range(files):
            (photos / f"IMG_{n:05d}.jpg").write_bytes(contents[n % len(contents)])
        config = root / "config.yaml"
        config.write_text(yaml.safe_dump({
            "api": {"base_url": url, "key": "emulator-key", "batch_size": 50},
            "database": {"url": f"sqlite:///{root / 'state.db'}"},
            "folders": [{"path": str(photos)}], "log_level": "warning",
        }))  # fmt: skip
        env = {**os.environ, "XDG_STATE_HOME": str(root / "state"), "HOME": str(root),
               "VISIONATI_SYNC_HELPER": "off"}  # fmt: skip
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: compiled once, then cached
        warm = env | {"VISIONATI_SYNC_HELPER": "on", "VISIONATI_SYNC_HELPER_IDLE": "10"}
        old = time.time() - 3600
        for path in photos.iterdir():
            os.utime(path, (old, old))
        subprocess.run([*VS, "-c", str(config), "scan", "--yes"], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        bare = seconds([sys.executable, "-c", "pass"], env)
        floor = seconds([sys.executable, "-c", "import sqlalchemy"], env)
        reads = {c: seconds([*VS, "-c", str(config), c], env) for c in ("status", "jobs", "costs")}
        helped = {
            c: seconds([*VS, "-c", str(config), c], warm) for c in ("status", "jobs", "costs")
        }
        help_time = seconds([*VS, "status", "--help"], env)
        version = seconds([*VS, "--version"], env)
        scan = seconds([*VS, "-c", str(config), "scan"], env)
        config.write_text(config.read_text().replace("log_level: warning", "log_level: info"))
        (scan_ready,) = medians([*VS, "-c", str(config), "scan"], env, ["scanned folder"])
        run_started, run_scanned = medians(
            [*VS, "-c", str(config), "run"], env, ["daemon started", "scanned folder"]
        )
        rss, private, bare_rss = idle_memory(root, idle, env)
        unchanged = tagged_library(root, "unchanged", RESCAN)
        rescan = seconds([*VS, "-c", str(unchanged), "scan"], env)
        find = seconds(["find", str(root / "unchanged"), "-type", "f", "-printf", "%s %T@\n"], env)
        grown = million(root, config)
        big = seconds([*VS, "-c", str(grown), "status"], env)
        big_helped = seconds([*VS, "-c", str(grown), "status"], warm)
    rows: list[Row] = [
        (f"p. `{c}`, {files:,} files: alone / with the warm helper",
         f"{t:.2f} s / {helped[c]:.2f} s",
         f"{_verdict(helped[c] <= TARGET_READ)} (≤ {TARGET_READ} s) with the helper, "
         f"{_verdict(t <= TARGET_READ)} alone")
        for c, t in reads.items()
    ]  # fmt: skip
    rows += [
        ("p. `status --help`", f"{help_time:.2f} s", _verdict(help_time <= TARGET_READ)),
        ("p. `--version`", f"{version:.2f} s", ""),
        ("p. `python -c pass`; `import sqlalchemy`", f"{bare:.2f} s; {floor:.2f} s", ""),
        (f"q. `scan`, nothing new in {files:,} files: its walk of them done / start to exit",
         f"{scan_ready:.2f} s / {scan:.2f} s",
         f"{_verdict(scan_ready <= TARGET_READY)} (ready ≤ {TARGET_READY} s)"),
        ("r. `run` over them: daemon started / its start-up scan done",
         f"{run_started:.2f} s / {run_scanned:.2f} s",
         f"{_verdict(run_started <= TARGET_READY)} (ready ≤ {TARGET_READY} s)"),
        (f"s. `run` idle over {idle:,} tagged files: RSS / private; `python -c pass` RSS",
         f"{rss:.0f} MB / {private:.0f} MB; {bare_rss:.0f} MB",
         f"{_verdict(rss <= TARGET_IDLE_MB)} (≤ {TARGET_IDLE_MB} MB)"),
        (f"t. `status` over {MILLION:,} rows: alone / with the warm helper",
         f"{big:.2f} s / {big_helped:.2f} s",
         f"{_verdict(big_helped <= TARGET_MILLION)} (≤ {TARGET_MILLION} s) with the helper, "
         f"{_verdict(big <= TARGET_MILLION)} alone"),
        (f"u. `scan` of {RESCAN:,} unchanged files, start to exit / `find -printf '%s %T@'`",
         f"{rescan:.2f} s / {find:.2f} s", f"{_verdict(rescan <= TARGET_RESCAN)} "
         f"(≤ {TARGET_RESCAN} s with start-up)"),
    ]  # fmt: skip
    return rows


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    idle = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    for row in main(files=count, idle=idle):
        print(" | ".join(row))
