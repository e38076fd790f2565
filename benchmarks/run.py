"""Run every benchmark, side by side on this machine, and print one table.

Usage: make bench   (or: .venv/bin/python benchmarks/run.py; about five minutes; one part
alone: .venv/bin/python benchmarks/backfill.py throughput|overhead|rescan|memory)
Figures go into docs/benchmarks.md together with the machine they were measured on.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import backfill
import embed
import faults
import fleet
import outage
import renditions
import responsiveness
import startup
import ui
import xmp_sidecars

BENCHMARKS = [
    xmp_sidecars.main, backfill.main, faults.main, renditions.main, fleet.main,
    responsiveness.main, outage.main, embed.main, ui.main, startup.main,
]  # fmt: skip


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def main() -> int:
    print(f"machine: {machine()}\n")
    print("| measurement | figure | target |\n|---|---|---|")
    for benchmark in BENCHMARKS:
        for row in benchmark():
            print("| " + " | ".join(row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
