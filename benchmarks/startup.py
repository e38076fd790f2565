"""How long a command takes to start and answer (issue 28), side by side in one run, medians
of 7 processes each:
  p. `status`, `jobs` and `costs` on a job table of FILES files (a real scan against the
     emulator), `--help` of a verb and `--version`, beside `python -c pass` and beside
     `python -c "import sqlalchemy"` (the floor any command that reads the table pays today);
  q. `scan` of a folder with nothing new in it: a whole run, start to exit.

Usage: .venv/bin/python benchmarks/startup.py [FILES]   (default 1,000; about a minute)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from backfill import VS, Row, _verdict, emulator
from visionati_sync.devtools import samples

RUNS = 7
TARGET_READ = 0.25  # s, a read command at 1,000 files
TARGET_SCAN = 0.5  # s, `scan` ready before the first file


def seconds(command: list[str], env: dict[str, str]) -> float:
    """Median wall seconds of ``RUNS`` runs of a command (one warm-up first)."""
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)  # fmt: skip
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)  # fmt: skip
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(names: list[str] | None = None, files: int = 1000) -> list[Row]:
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
        warm = env | {"VISIONATI_SYNC_HELPER": "on", "VISIONATI_SYNC_HELPER_IDLE": "10"}
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
    rows: list[Row] = [
        (f"p. `{c}`, {files:,} files: alone / with the warm helper",
         f"{t:.2f} s / {helped[c]:.2f} s",
         f"{_verdict(helped[c] <= TARGET_READ)} (≤ {TARGET_READ} s) with the helper; "
         f"{t / helped[c]:.1f}× faster")
        for c, t in reads.items()
    ]  # fmt: skip
    rows += [
        ("p. `status --help`", f"{help_time:.2f} s", _verdict(help_time <= TARGET_READ)),
        ("p. `--version`", f"{version:.2f} s", ""),
        ("p. `python -c pass`; `import sqlalchemy`", f"{bare:.2f} s; {floor:.2f} s", ""),
        (f"q. `scan`, nothing new in {files:,} files (start to exit)", f"{scan:.2f} s",
         f"ready ≤ {TARGET_SCAN} s is the target; this is the whole run"),
    ]  # fmt: skip
    return rows


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    for row in main(files=count):
        print(" | ".join(row))
