"""Renditions: how fast files the API does not take become what it does, and at what memory.

f. 200 conversions of mixed images (an iPhone-sized HEIC, a 24 MP JPEG, a 24 MP TIFF, in
   turn) to the JPEG that is sent (long edge 2048, sRGB, upright): visionati-sync's
   ``renditions.convert`` on a pool of one thread per core, as the submitter runs it, beside
   ImageMagick's ``convert -auto-orient -thumbnail 2048x2048>`` run one process per core on
   the same files. Target: at least as fast.
g. RAW previews: ``renditions.raw_rendition`` (LibRaw's preview, else exiftool's; made into
   the 2048 px JPEG) over the real samples with previews, beside ``exiftool -b
   -PreviewImage`` on the same files (extraction only, one process per file, one per core).
h. Peak memory of a whole ``scan`` (the process's own VmHWM) of four 100 MP TIFFs and a 4K
   video over 20 MB (its frames taken with ffmpeg), against the emulator. Target ≤ 250 MB.

Usage: .venv/bin/python benchmarks/renditions.py [convert|raw|memory]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import media
from backfill import VS, Row, emulator, run_parts, write_config
from media import heic, sample, video
from visionati_sync.renditions import RenditionSettings, convert, formats, raw_rendition

CORES = os.cpu_count() or 1
SETTINGS = RenditionSettings()


def imagemagick() -> str | None:
    """Debian's ImageMagick (its ``convert`` may be shadowed by something else's)."""
    for name in ("magick", "convert-im6.q16", "convert"):
        found = shutil.which(name)
        if (
            found
            and "ImageMagick"
            in subprocess.run(
                [found, "-version"], capture_output=True, text=True, check=False
            ).stdout
        ):
            return found
    return None


def timed(jobs: Iterable[Callable[[], object]]) -> float:
    """Run the jobs on a pool of one worker per core; return the wall seconds."""
    started = time.perf_counter()
    with ThreadPoolExecutor(CORES) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()
    return time.perf_counter() - started


def photo_24mp(path: Path) -> Path:
    """A 6000x4000 JPEG with detail enough to weigh what a camera's does (about 8 MB)."""
    import pyvips

    base = pyvips.Image.xyz(6000, 4000)
    pattern = (base[0] * 0.02).sin() * 60 + (base[1] * 0.013).cos() * 60 + 128
    noise = pyvips.Image.gaussnoise(6000, 4000, sigma=12)
    image = (pattern + noise).bandjoin([pattern * 0.7 + noise, 255 - pattern + noise])
    image.cast("uchar").copy(interpretation="srgb").jpegsave(str(path), Q=92)
    return path


def mixed(scratch: Path) -> list[Path]:
    big = photo_24mp(scratch / "DSC_0001.jpg")
    import pyvips

    scan = scratch / "scan_0001.tif"
    pyvips.Image.new_from_file(str(big)).tiffsave(str(scan), compression="lzw")
    phone = heic(scratch / "IMG_0001.HEIC", 4032, 3024)
    return [phone, big, scan]


def convert_rows(scratch: Path, count: int = 200) -> list[Row]:
    files = mixed(scratch)
    work = [files[i % len(files)] for i in range(count)]
    kinds = {f: formats.sniff(f.read_bytes()[:4096], f.name) for f in files}

    def ours(path: Path) -> Callable[[], object]:
        return lambda: convert(str(path), kinds[path], SETTINGS)  # type: ignore[arg-type]

    magick = imagemagick()
    rows: list[Row] = []
    mine = timed(ours(f) for f in work)
    rows.append((f"f. {count} renditions, HEIC / 24 MP JPEG / 24 MP TIFF: visionati-sync",
                 f"{count / mine:.1f} files/s ({CORES} threads)", ""))  # fmt: skip
    if magick is None:
        rows.append(("   ImageMagick", "not installed (Debian package imagemagick)", ""))
        return rows
    out = scratch / "out"
    out.mkdir()

    def theirs(index: int, path: Path) -> Callable[[], object]:
        target = out / f"{index}.jpg"
        args = [magick, str(path), "-auto-orient", "-thumbnail", "2048x2048>", str(target)]
        return lambda: subprocess.run(args, check=True, capture_output=True)

    reference = timed(theirs(i, f) for i, f in enumerate(work))
    rows.append(("   ImageMagick convert -auto-orient -thumbnail 2048x2048>",
                 f"{count / reference:.1f} files/s ({CORES} processes)", ""))  # fmt: skip
    ratio = reference / mine
    rows.append(("   ratio (target ≥ 1×)", f"{ratio:.1f}×", "met" if ratio >= 1 else "MISSED"))
    return rows


def raw_rows(scratch: Path, count: int = 120) -> list[Row]:
    if media.SAMPLES is None:
        return [("g. RAW previews", "the real samples (shared/media-samples) are not here", "")]
    raws = [sample(n) for n in ("canon_eos_6d.dng", "Canon-R6-pruned.CR3", "FujiFilm.raf")]
    work = [raws[i % len(raws)] for i in range(count)]
    mine = timed((lambda p=p: raw_rendition(str(p), SETTINGS)) for p in work)

    def extract(path: Path) -> Callable[[], object]:
        args = ["exiftool", "-b", "-PreviewImage", str(path)]
        return lambda: subprocess.run(args, check=False, capture_output=True)

    reference = timed(extract(p) for p in work)
    ratio = reference / mine
    return [
        (f"g. {count} RAW previews (DNG, CR3, RAF), made into the JPEG sent: visionati-sync",
         f"{count / mine:.1f} files/s", ""),
        ("   exiftool -b -PreviewImage (extraction only)", f"{count / reference:.1f} files/s", ""),
        ("   ratio", f"{ratio:.1f}×", ""),
    ]  # fmt: skip


def peak_rss(process: subprocess.Popen[bytes]) -> int:
    """Follow a process until it ends; return its own peak resident set (kB, VmHWM)."""
    peak = 0
    status = Path(f"/proc/{process.pid}/status")
    while process.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            break
        time.sleep(0.05)
    return peak


def memory_rows(scratch: Path) -> list[Row]:
    import pyvips

    photos = scratch / "photos"
    photos.mkdir()
    base = pyvips.Image.xyz(10000, 10000)
    pattern = ((base[0] * 0.01).sin() * 100 + 128).cast("uchar")
    image = pattern.bandjoin([pattern.rot90(), 255 - pattern])
    for index in range(4):
        (image + index).cast("uchar").tiffsave(str(photos / f"scan_{index}.tif"), compression="lzw")
    clip = video(photos / "clip_4k.mp4", 8, size="3840x2160")
    if clip.stat().st_size <= 20_000_000:  # make sure it takes the frames path
        clip.unlink()
        video(photos / "clip_4k.avi", 1.2, size="3840x2160", raw=True)
    with emulator() as url:
        config = write_config(scratch, url, photos)
        started = time.perf_counter()
        quiet = subprocess.DEVNULL
        process = subprocess.Popen(
            [*VS, "-c", str(config), "scan", "--yes"], stdout=quiet, stderr=quiet
        )
        peak = peak_rss(process)
        wall = time.perf_counter() - started
        assert process.wait() == 0
    return [
        ("h. peak RSS, scan of four 100 MP TIFFs and a 4K video over 20 MB",
         f"{peak / 1024:.0f} MB ({wall:.1f} s)", "met" if peak <= 250 * 1024 else "MISSED"),
    ]  # fmt: skip


PARTS: dict[str, Callable[[Path], list[Row]]] = {
    "convert": convert_rows, "raw": raw_rows, "memory": memory_rows,
}  # fmt: skip


def main(names: list[str] | None = None) -> list[Row]:
    return run_parts(PARTS, names, "vs-bench-renditions-")


if __name__ == "__main__":
    for row in main(sys.argv[1:] or None):
        print("| " + " | ".join(row) + " |", flush=True)
