"""XMP sidecar writes: visionati-sync's merge vs exiftool's -stay_open batch mode.

1,000 photos, half with an existing darktable sidecar to merge into, half without one. Both
tools write the same keywords into dc:subject, lr:hierarchicalSubject and digiKam:TagsList
and the same description, on their own copy of the same files, one after the other.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from visionati_sync.devtools import samples
from visionati_sync.rules import vocabulary
from visionati_sync.rules.keywording import KeywordRules, choose
from visionati_sync.sidecars import xmp
from visionati_sync.sidecars.atomic import WriteBatch

TESTS = Path(__file__).resolve().parents[1] / "tests" / "data"
DARKTABLE = TESTS / "xmp" / "darktable.xmp"
KEYWORD_LIST = TESTS / "keywords" / "lightroom-keywords.txt"
WORDS = ("dog", "beach", "sunset", "sea", "sand")
KEYWORDS = tuple(("Visionati", word) for word in WORDS)
DESCRIPTION = "A dog running on a sandy beach at sunset."


def make_library(folder: Path, count: int) -> list[Path]:
    """Photos; every other one with a darktable sidecar beside it already."""
    images = samples.write_library(folder, count)
    for image in images[::2]:
        shutil.copy(DARKTABLE, image.with_name(image.name + ".xmp"))
    return images


def run_ours(images: list[Path]) -> float:
    """As the daemon's writer does: a batch of 50 merged, staged, made durable together,
    renamed into place (each checked against a concurrent writer), folders synced."""
    settings = xmp.XmpSettings()
    when = datetime.now(UTC)
    started = time.perf_counter()
    for start in range(0, len(images), 50):
        batch = WriteBatch()
        for image in images[start : start + 50]:
            result = xmp.XmpResult(image.name, "bench", when, KEYWORDS, DESCRIPTION)
            planned = xmp.plan(image, result, settings)
            batch.stage(planned.path, planned.content, planned.expected)
        assert not any(batch.commit().values())
    return time.perf_counter() - started


def exiftool_args(image: Path) -> list[str]:
    sidecar = image.with_name(image.name + ".xmp")
    args = ["-m", "-overwrite_original"]
    for keyword in WORDS:
        args += [
            f"-XMP-dc:Subject-={keyword}", f"-XMP-dc:Subject+={keyword}",
            f"-XMP-lr:HierarchicalSubject-=Visionati|{keyword}",
            f"-XMP-lr:HierarchicalSubject+=Visionati|{keyword}",
            f"-XMP-digiKam:TagsList-=Visionati/{keyword}",
            f"-XMP-digiKam:TagsList+=Visionati/{keyword}",
        ]  # fmt: skip
    args.append(f"-XMP-dc:Description={DESCRIPTION}")
    # an existing sidecar is edited in place; a new one is created from nothing
    return [*args, str(sidecar)] if sidecar.exists() else [*args, "-o", str(sidecar), str(image)]


def run_exiftool(images: list[Path]) -> float:
    process = subprocess.Popen(
        ["exiftool", "-stay_open", "True", "-@", "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("-ver\n-execute\n")  # start-up is not counted
    process.stdin.flush()
    while process.stdout.readline().strip() != "{ready}":
        pass
    started = time.perf_counter()
    for image in images:
        process.stdin.write("\n".join(exiftool_args(image)) + "\n-execute\n")
        process.stdin.flush()
        while process.stdout.readline().strip() != "{ready}":
            pass
    elapsed = time.perf_counter() - started
    process.stdin.write("-stay_open\nFalse\n")
    process.stdin.flush()
    process.wait(timeout=30)
    return elapsed


def check(images: list[Path]) -> None:
    """Both tools must have written what was asked, or the race means nothing."""
    sidecars = [image.with_name(image.name + ".xmp") for image in images[:2]]
    out = subprocess.run(
        ["exiftool", "-s3", "-XMP-dc:Subject", *map(str, sidecars)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for keyword in WORDS:
        assert out.count(keyword) >= 2, out


def keyword_choice(count: int = 2000) -> tuple[float, float, float]:
    """Microseconds per result to choose its keywords: by default, and by a user's rules
    (the 299-keyword Lightroom list of the tests, exclusions, renames); and a merge's."""
    words = vocabulary.load(KEYWORD_LIST).paths
    known = [w for w in words if " " not in w][::12][:20]  # 20 words the vocabulary knows
    tags = [*known, "zebra", "person", "automobile", "landscape", "indoors"]
    asset = {"tags": {t: [{"score": 0.99 - i / 100}] for i, t in enumerate(tags)}}
    plain = KeywordRules()
    rules = KeywordRules(
        exclude=("person", "indoor*", "*scape"), rename={"automobile": "car"},
        vocabulary=vocabulary.load(KEYWORD_LIST), max=20,
    )  # fmt: skip
    timings = []
    for chosen in (plain, rules):
        started = time.perf_counter()
        for _ in range(count):
            choose(asset, chosen)
        timings.append((time.perf_counter() - started) / count * 1e6)
    existing = DARKTABLE.read_bytes()
    result = xmp.XmpResult("IMG_1.jpg", "bench", datetime.now(UTC), choose(asset, rules), None)
    started = time.perf_counter()
    for _ in range(count // 4):
        xmp.merge(existing, result, xmp.XmpSettings())
    merge = (time.perf_counter() - started) / (count // 4) * 1e6
    return timings[0], timings[1], merge


def main(count: int = 1000, rounds: int = 3) -> list[tuple[str, str, str]]:
    """Alternate the two tools over several rounds, each on fresh copies of the library;
    report medians (the disk here is shared and its latency wanders)."""
    ours: list[float] = []
    theirs: list[float] = []
    for round_number in range(rounds):
        with tempfile.TemporaryDirectory(prefix="vs-bench-xmp-") as scratch:
            ours_images = make_library(Path(scratch) / "ours", count)
            theirs_images = make_library(Path(scratch) / "exiftool", count)
            runs = [(ours, run_ours, ours_images), (theirs, run_exiftool, theirs_images)]
            for rates, run, images in runs if round_number % 2 == 0 else runs[::-1]:
                os.sync()  # no tool pays for flushing the set-up's (or the other's) writes
                rates.append(count / run(images))
            check(ours_images)
            check(theirs_images)
    mine, exif = statistics.median(ours), statistics.median(theirs)

    def spread(rates: list[float]) -> str:
        return f"{statistics.median(rates):,.0f} files/s ({min(rates):,.0f}–{max(rates):,.0f})"

    plain, ruled, merge = keyword_choice()
    return [
        (f"XMP sidecars, {count:,} photos, half merges: visionati-sync", spread(ours), ""),
        ("the same keyword writes: exiftool -stay_open", spread(theirs), ""),
        ("ratio of medians (target ≥ 5×)", f"{mine / exif:.1f}×",
         "met" if mine >= 5 * exif else f"missed by {5 * exif / mine:.1f}×"),
        ("keywords of one result, 25 tags: no rules / a 299-keyword vocabulary with "
         "exclusions and renames", f"{plain:.0f} µs / {ruled:.0f} µs", ""),
        ("  the vocabulary's cost against one merge into a darktable sidecar",
         f"{(ruled - plain) / merge:.1%} of {merge:.0f} µs", ""),
    ]  # fmt: skip


if __name__ == "__main__":
    for row in main():
        print(" | ".join(row))
