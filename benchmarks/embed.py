"""Tags written inside files: visionati-sync's guarded write (one long-lived exiftool, a copy
written, its pixels decoded and compared with the original's, mtime kept, renamed over the
file) beside `exiftool -overwrite_original` run once per file (what a user's script does).

200 small images (JPEG and PNG, from the project's sample generator), the same keywords and
description for both, each on its own copy of the library, alternating which goes first.
Usage: .venv/bin/python benchmarks/embed.py
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from backfill import Row
from visionati_sync.devtools import samples
from visionati_sync.sidecars.embedding import Embedder

WORDS = ("dog", "beach", "sunset", "sea", "sand")
KEYWORDS = tuple(("Visionati", word) for word in WORDS)
DESCRIPTION = "A dog running on a sandy beach at sunset."


def run_ours(images: list[Path]) -> float:
    embedder = Embedder()
    started = time.perf_counter()
    for image in images:
        staged = embedder.stage(image, KEYWORDS, DESCRIPTION, "bench")
        assert staged is not None
        embedder.commit(staged)
    elapsed = time.perf_counter() - started
    embedder.close()
    return elapsed


def run_exiftool(images: list[Path]) -> float:
    args = [f"-XMP-dc:Subject+={w}" for w in WORDS]
    args += [f"-XMP-lr:HierarchicalSubject+=Visionati|{w}" for w in WORDS]
    args += [f"-XMP-dc:Description={DESCRIPTION}", "-overwrite_original", "-P", "-q"]
    started = time.perf_counter()
    for image in images:
        subprocess.run(["exiftool", *args, str(image)], check=True)
    return time.perf_counter() - started


def main(count: int = 200, rounds: int = 3) -> list[Row]:
    ours: list[float] = []
    theirs: list[float] = []
    for round_number in range(rounds):
        with tempfile.TemporaryDirectory(prefix="vs-bench-embed-") as scratch:
            made = samples.write_library(Path(scratch) / "made", count)
            copies = []
            for name in ("ours", "exiftool"):
                folder = Path(scratch) / name
                shutil.copytree(made[0].parent, folder)
                copies.append(sorted(folder.iterdir()))
            runs = [(ours, run_ours, copies[0]), (theirs, run_exiftool, copies[1])]
            for rates, run, images in runs if round_number % 2 == 0 else runs[::-1]:
                rates.append(count / run(images))
    mine, exif = statistics.median(ours), statistics.median(theirs)
    return [
        (f"keywords inside {count} JPEGs and PNGs: visionati-sync (checked, guarded)",
         f"{mine:,.1f} files/s ({min(ours):,.1f}–{max(ours):,.1f})", ""),
        ("the same tags: exiftool -overwrite_original, once per file",
         f"{exif:,.1f} files/s ({min(theirs):,.1f}–{max(theirs):,.1f})", ""),
        ("ratio of medians", f"{mine / exif:.2f}×", ""),
    ]  # fmt: skip


if __name__ == "__main__":
    for row in main():
        print(" | ".join(row))
