"""Backfill benchmarks: throughput against the API, local overhead, rescans, memory.

Each compares side by side in one run on this machine (ratios travel, figures do not):
  a. `scan` of 300 images vs the API documentation's reference loop, emulator answering each
     request after 1 s;
  b. `scan` of 1,000 images vs a minimal read/base64/POST script, emulator answering at once:
     files/s and CPU seconds per 1,000 files;
  c. a rescan of 50,000 unchanged files vs `find -printf '%s %T@'` over the same tree;
  d. peak RSS of `scan` backfilling 100 and 200 images of 8 MB with default settings.
The emulator runs in its own process, so its CPU is not counted for either side.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import yaml

from visionati_sync import log
from visionati_sync.config import FolderSettings, load_config
from visionati_sync.devtools import samples
from visionati_sync.devtools.pgserver import PostgresServer, PostgresUnavailable
from visionati_sync.jobtable.schema import Job
from visionati_sync.records import State
from visionati_sync.service.daemon import Service

KEY = "emulator-key"
VS = [sys.executable, "-m", "visionati_sync"]

Row = tuple[str, str, str]
Part = Callable[[Path], list[Row]]


def run_parts(parts: dict[str, Part], names: list[str] | None, prefix: str) -> list[Row]:
    """Given a benchmark's parts by name, run those named (none: all), each in its own
    scratch folder, saying on stderr as each ends; their rows together."""
    rows: list[Row] = []
    for name in names or list(parts):
        with tempfile.TemporaryDirectory(prefix=f"{prefix}{name}-") as scratch:
            rows += parts[name](Path(scratch))
            print(json.dumps({"done": name}), file=sys.stderr, flush=True)
    return rows


@contextmanager
def emulator(*args: str) -> Iterator[str]:
    """The emulator in a process of its own; yields its URL."""
    process = subprocess.Popen(
        [*VS, "emulator", "--port", "0", *args], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip().rsplit(" ", 1)[-1]
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def write_config(
    folder: Path, url: str, photos: Path, database: str | None = None, **api: Any
) -> Path:
    """A config in ``folder`` over ``photos``, its job table there on SQLite, or at
    ``database``."""
    config = folder / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "api": {"base_url": url, "key": KEY, **api},
                "database": {"url": database or f"sqlite:///{folder / 'state.db'}"},
                "folders": [{"path": str(photos)}],
                "log_level": "warning",
            }
        )
    )
    return config


def run_scan(config: Path, *paths: str) -> tuple[float, float, int]:
    """`visionati-sync scan --yes [PATHS]` as a process: wall seconds, CPU seconds, peak RSS
    in KB."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [*VS, "-c", str(config), "scan", "--yes", *paths],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, process.stderr.read().decode()[-2000:] if process.stderr else ""
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def reference_loop(url: str, images: list[Path]) -> float:
    """The API documentation's `analyze()`, one file at a time: POST, then poll every 2 s."""
    headers = {"X-API-Key": f"Token {KEY}", "Content-Type": "application/json"}
    started = time.perf_counter()
    for image in images:
        encoded = base64.b64encode(image.read_bytes()).decode("utf-8")
        payload = {"file": encoded, "file_name": image.name,
                   "feature": ["tags", "descriptions"]}  # fmt: skip
        data = requests.post(f"{url}/api/fetch", json=payload, headers=headers, timeout=60).json()
        while data.get("status") != "completed":
            time.sleep(2)
            data = requests.get(data["response_uri"], headers=headers, timeout=60).json()
    return time.perf_counter() - started


MINIMAL_SCRIPT = """
import base64, json, sys, requests
url, batch, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
session = requests.Session()
headers = {"X-API-Key": "Token emulator-key", "Content-Type": "application/json"}
for start in range(0, len(paths), batch):
    chunk = paths[start:start + batch]
    files = [base64.b64encode(open(p, "rb").read()).decode() for p in chunk]
    body = json.dumps({"file": files, "file_name": [p.rsplit("/", 1)[-1] for p in chunk],
                       "feature": ["tags", "descriptions"]})
    assert session.post(url + "/api/fetch", data=body, headers=headers, timeout=60).ok
"""


def minimal_script(url: str, images: list[Path], batch: int) -> tuple[float, float]:
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", MINIMAL_SCRIPT, url, str(batch), *map(str, images)]
    )
    _, status, usage = os.wait4(process.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime


def small_library(folder: Path, count: int) -> list[Path]:
    """Photos of about 30 KB each."""
    folder.mkdir(parents=True)
    paths = []
    for n in range(count):
        path = folder / f"IMG_{n:05d}.jpg"
        path.write_bytes(samples.jpeg(n, padding=30_000))
        paths.append(path)
    old = time.time() - 3600  # complete: nothing waits for them to settle
    for path in paths:
        os.utime(path, (old, old))
    return paths


def throughput(scratch: Path) -> list[Row]:
    with emulator("--delay", "1", "--queued-polls", "0", "--processing-polls", "0") as url:
        small_library(scratch / "a", 300)
        wall, _, _ = run_scan(write_config(scratch, url, scratch / "a"))
        reference = reference_loop(url, small_library(scratch / "a-ref", 20))
    ours, theirs = 300 / wall, 20 / reference
    return [
        ("a. 300 images, API answering after 1 s: `scan` (defaults)", f"{ours:.1f} files/s", ""),
        ("   the API docs' reference loop, 20 images", f"{theirs:.2f} files/s", ""),
        ("   ratio (target ≥ 20×)", f"{ours / theirs:.0f}×", _verdict(ours / theirs >= 20)),
    ]


def protocol(scratch: Path, count: int = 1000) -> list[Row]:
    """How close a backfill comes to what the protocol allows: ``max_inflight_requests``
    requests of ``batch_size`` files, each answered after the API's latency, so at most
    in-flight × batch ÷ latency files/s; and how many requests were with the API on average
    (the emulator's log: from each upload to the poll that found it done)."""
    inflight, batch, latency = 4, 8, 1.0
    with emulator("--delay", str(latency), "--queued-polls", "0", "--processing-polls", "0") as url:
        small_library(scratch / "p", count)
        run_scan(write_config(scratch, url, scratch / "p"))
        log = requests.get(f"{url}/_emulator/log", timeout=30).json()
    sent: dict[str, float] = {}
    ended: dict[str, float] = {}
    for entry in log:
        request = entry.get("request_id")
        if entry.get("path") == "/api/fetch" and request:
            sent[request] = entry["time"]
        elif entry.get("method") == "GET" and request in sent:
            ended[request] = entry["time"]  # the last poll: the one that found it done
    start, end = min(sent.values()), max(ended.values())
    busy = sum(ended[r] - sent[r] for r in sent)
    rate, bound = count / (end - start), inflight * batch / latency
    return [
        (f"h. {count:,} images, API answering after {latency:.0f} s: `scan` (defaults), "
         "first upload to last result", f"{rate:.1f} files/s", ""),
        (f"   the protocol's bound: {inflight} in flight × {batch} files ÷ {latency:.0f} s",
         f"{bound:.0f} files/s", ""),
        ("   ratio (target ≥ 90%)", f"{rate / bound:.0%}", _verdict(rate >= 0.9 * bound)),
        ("   requests with the API, on average (of 4)", f"{busy / (end - start):.2f}", ""),
    ]  # fmt: skip


MINIMAL_FILE_WORK = """
import hashlib, os, sys, tempfile
for p in sys.argv[1:]:
    with open(p, "rb") as handle:
        hashlib.sha256(handle.read()).hexdigest()
    for suffix, body in ((".xmp", b"<x/>" * 300), (".visionati.json", b"{}" * 600)):
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(p), prefix=".vs-")
        os.write(fd, body)
        os.close(fd)
        os.rename(tmp, p + suffix)
"""


def copy_tree(root: Path, contents: list[bytes], count: int) -> list[str]:
    """``count`` files of ``contents`` in turn, in folders of 1,000, long complete."""
    old = time.time() - 3600
    paths = []
    for n in range(count):
        path = root / f"d{n // 1000:03d}" / f"IMG_{n:06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(contents[n % len(contents)])
        os.utime(path, (old, old))
        paths.append(str(path))
    return paths


def copies(scratch: Path, count: int = 20_000, distinct: int = 200) -> list[Row]:
    """A library of copies: `scan` against a script that only does each file's own work
    (read and hash it, write two sidecars beside it by a temporary file and a rename, no
    fsync), each over a fresh tree of the same files (no side writes where the other just
    deleted: ext4 is slower there). The whole backfill, the API asked for each of the
    ``distinct`` contents (one second at least before a request's first poll); then the
    copies alone, every one served by the results cache (their contents tagged before), on
    SQLite and on PostgreSQL (the server's own CPU not counted)."""
    contents = [samples.jpeg(n) for n in range(distinct)]
    whole = copy_tree(scratch / "whole", contents, count)
    bare = copy_tree(scratch / "bare", contents, count)
    served: dict[str, tuple[float, float, int]] = {}
    with emulator("--queued-polls", "0", "--processing-polls", "0") as url, databases() as urls:
        os.sync()
        wall, cpu, rss = run_scan(write_config(scratch, url, scratch / "whole"))
        for name, database in urls.items():
            folder = scratch / f"served-{name}"
            copy_tree(folder / "originals", contents, distinct)
            copy_tree(folder / "copies", contents, count)
            config = folder / "config.yaml"
            config.write_text(yaml.safe_dump({
                "api": {"base_url": url, "key": KEY},
                "database": {"url": database or f"sqlite:///{folder / 'state.db'}"},
                "folders": [{"path": str(folder / "originals")}, {"path": str(folder / "copies")}],
                "log_level": "warning",
            }))  # fmt: skip
            run_scan(config, str(folder / "originals"))
            os.sync()
            served[name] = run_scan(config, str(folder / "copies"))
    os.sync()
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", MINIMAL_FILE_WORK, *bare], check=True)
    minimal = time.perf_counter() - started
    size = (scratch / "state.db").stat().st_size
    assert len(whole) == count
    rows: list[Row] = [
        (f"i. {count:,} files, {distinct} distinct contents: `scan`, the API asked for each "
         "content", f"{count / wall:,.0f} files/s, {cpu / count * 1000:.1f} CPU s/1,000, "
         f"{rss // 1024} MB peak, {size / count:.0f} bytes/file in the job table", ""),
        ("   the same file work alone (read, hash, two sidecars by temporary and rename)",
         f"{count / minimal:,.0f} files/s, {minimal / count * 1000:.2f} s/1,000",
         f"the whole backfill: {minimal / wall:.0%} of its rate"),
    ]  # fmt: skip
    for name, (s_wall, s_cpu, s_rss) in served.items():
        rows.append((f"   the copies, every one served by the results cache, {name}: as a share "
                     "of the file work's rate (target ≥ 70%)",
                     f"{count / s_wall:,.0f} files/s, {s_cpu / count * 1000:.2f} CPU s/1,000, "
                     f"{s_rss // 1024} MB peak: {minimal / s_wall:.0%}",
                     _verdict(minimal / s_wall >= 0.7)))  # fmt: skip
    return rows


def overhead(scratch: Path, count: int = 1000) -> list[Row]:
    """b: CPU per file of `scan` beside a minimal upload script, with the job table on
    SQLite and on PostgreSQL (each over a library of its own, the same images)."""
    cpus: dict[str, float] = {}
    with emulator("--queued-polls", "0", "--processing-polls", "0") as url, databases() as urls:
        for name, database in urls.items():
            folder = scratch / f"b-{name}"
            folder.mkdir()
            images = small_library(folder / "photos", count)
            config = write_config(folder, url, folder / "photos", database,
                                  poll_interval=0.05, max_inflight_requests=16)  # fmt: skip
            wall, cpus[name], _ = run_scan(config)
            if name == "SQLite":
                sqlite_wall = wall
        base_wall, base_cpu = minimal_script(url, images, batch=8)
    base_per_k = base_cpu * 1000 / count
    rows: list[Row] = [
        (f"b. {count:,} images, API answering at once: `scan` (batches of 8), SQLite",
         f"{count / sqlite_wall:,.0f} files/s, {cpus['SQLite'] * 1000 / count:.2f} CPU s/1,000",
         ""),
        ("   minimal read + base64 + POST script, same batches",
         f"{count / base_wall:,.0f} files/s, {base_per_k:.2f} CPU s/1,000", ""),
    ]  # fmt: skip
    for name, cpu in cpus.items():
        ratio = cpu * 1000 / count / base_per_k
        rows.append((f"   CPU per file, `scan` ÷ the script, {name} (target ≤ 3×)",
                     f"{ratio:.1f}× ({cpu * 1000 / count:.2f} CPU s/1,000)",
                     _verdict(ratio <= 3)))  # fmt: skip
    return rows


@contextmanager
def databases() -> Iterator[dict[str, str | None]]:
    """The job tables a benchmark runs on: SQLite (None: the config's folder), and a
    PostgreSQL server of its own where one can run here."""
    try:
        with PostgresServer() as postgres:
            yield {"SQLite": None, "PostgreSQL": postgres.create_database("bench")}
    except PostgresUnavailable:
        yield {"SQLite": None}


def unchanged_tree(tree: Path, count: int, per_dir: int = 500) -> None:
    """``count`` tiny files in folders of ``per_dir``, by year and month, long complete (a
    scan queues them, none settles): the library a rescan walks."""
    old = time.time() - 3600
    for d in range(count // per_dir):
        folder = tree / f"{2000 + d // 12}" / f"{d % 12 + 1:02d}-{d}"
        folder.mkdir(parents=True)
        for n in range(per_dir):
            path = folder / f"IMG_{n:04d}.jpg"
            path.write_bytes(b"\xff\xd8\xff")
            os.utime(path, (old, old))


def rescan(scratch: Path, count: int = 50_000, rounds: int = 5) -> list[Row]:
    tree = scratch / "c"
    unchanged_tree(tree, count)
    config_path = write_config(scratch, "http://127.0.0.1:9", tree)
    config = load_config(config_path)
    log.configure("warning")  # the table, not the daemon's info lines
    service = Service(config)
    service.intake.scan([FolderSettings(path=tree)])  # the first scan queues all of them
    with service.table.engine.begin() as conn:  # as if tagged: a rescan does not look at state
        conn.execute(Job.__table__.update().values(state=State.DONE))
    empty = scratch / "c-empty"
    empty.mkdir()

    def find(path: Path) -> float:
        started = time.perf_counter()
        subprocess.run(
            ["find", str(path), "-type", "f", "-printf", "%s %T@\n"],
            stdout=subprocess.DEVNULL, check=True,
        )  # fmt: skip
        return time.perf_counter() - started

    ours, theirs = [], []
    for _ in range(rounds):  # interleaved, so both meet the same machine
        started = time.perf_counter()
        queued = service.intake.scan([FolderSettings(path=tree)])
        ours.append(time.perf_counter() - started)
        assert queued == 0
        theirs.append(find(tree) - find(empty))
    mine, base = statistics.median(ours), statistics.median(theirs)
    ratios = sorted(o / t for o, t in zip(ours, theirs, strict=True))
    return [
        (f"c. rescan of {count:,} unchanged files: visionati-sync", f"{mine:.3f} s", ""),
        ("   find -printf '%s %T@' (less its start-up)", f"{base:.3f} s", ""),
        ("   ratio of medians (target ≤ 3×)",
         f"{mine / base:.1f}× (rounds: {ratios[0]:.1f}–{ratios[-1]:.1f}×)",
         _verdict(mine <= 3 * base)),
    ]  # fmt: skip


def memory(scratch: Path) -> list[Row]:
    peaks = {}
    with emulator("--queued-polls", "0", "--processing-polls", "0") as url:
        for count in (100, 200):
            photos = scratch / f"d{count}"
            photos.mkdir()
            for n in range(count):
                (photos / f"IMG_{n:04d}.png").write_bytes(samples.png_of_size(n, 8_000_000))
            old = time.time() - 3600
            for path in photos.iterdir():
                os.utime(path, (old, old))
            folder = scratch / f"state{count}"
            folder.mkdir()
            _, _, peak_kb = run_scan(write_config(folder, url, photos))
            peaks[count] = peak_kb / 1024
    growth = peaks[200] - peaks[100]
    return [
        ("d. peak RSS, backfill of 100 images of 8 MB (defaults)", f"{peaks[100]:.0f} MB", ""),
        ("   peak RSS, backfill of 200 images of 8 MB (defaults)", f"{peaks[200]:.0f} MB",
         _verdict(peaks[200] <= 250 and growth < 25)),
        ("   growth from 100 to 200 images (target: none)", f"{growth:+.0f} MB", ""),
    ]  # fmt: skip


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


BENCHMARKS = {
    "throughput": throughput, "protocol": protocol, "overhead": overhead, "rescan": rescan,
    "memory": memory, "copies": copies,
}  # fmt: skip


def main(names: list[str] | None = None) -> list[Row]:
    return run_parts(BENCHMARKS, names, "vs-bench-")


if __name__ == "__main__":
    for row in main(sys.argv[1:]):
        print(" | ".join(row))
