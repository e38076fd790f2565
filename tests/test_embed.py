"""`sidecars.embed`: tags written into the files themselves by a scan, read back by exiftool
and exiv2; the image data checked unchanged by the test's own decoding (not the daemon's
code); rescans, moves and copies paying nothing; `untag` giving back exiftool's dump; a
write that would change the image data undone."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import media
from readers import as_list
from support import EmulatorControl, Library

pytestmark = pytest.mark.slow

# every kind the issue names, from the real samples (read in place, copied into the library)
WRITABLE_SAMPLES = {
    "iphone_7.heic": "IMG_0001.HEIC", "avif.avif": "IMG_0002.avif", "Reagan.tiff": "IMG_0003.tiff",
    "canon_eos_6d.dng": "IMG_0004.DNG", "exiv2-bug1199.webp": "IMG_0005.webp",
    "small_video.mp4": "MVI_0006.MP4", "sample_640x360.mov": "MVI_0007.MOV",
}  # fmt: skip
DESCRIBED = ("XMP-dc:Description", "IPTC:Caption-Abstract", "IFD0:ImageDescription")
LAYOUT = ("System:", "File:", "ExifTool:", "SourceFile", "QuickTime:MediaDataOffset")


def dump(path: Path) -> dict[str, Any]:
    """exiftool's full dump of a file, less what describes the file system and the layout
    of the container rather than its metadata (sizes, dates of the inode, mdat's offset)."""
    out = subprocess.run(
        ["exiftool", "-json", "-G1", "-a", "-n", str(path)], capture_output=True, check=True
    ).stdout
    (found,) = json.loads(out)
    layout = (
        "DataSize",
        "Offset",
        "Offsets",
        "ByteCount",
        "ByteCounts",
        "ImageStart",
    )  # where the bytes lie, not what they say
    return {k: v for k, v in found.items() if not k.startswith(LAYOUT) and not k.endswith(layout)}


def image_data(path: Path) -> str:
    """The test's own view of a file's image data: decoded pixels (Pillow), a DNG's raw
    sensor data (rawpy), or every video frame and audio sample decoded by ffmpeg."""
    if path.suffix.lower() in (".mp4", ".mov"):
        out = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0", "-f", "framemd5", "-"],
            capture_output=True, check=True,
        ).stdout  # fmt: skip
        return hashlib.sha256(out).hexdigest()
    if path.suffix.lower() == ".dng":
        import rawpy

        with rawpy.imread(str(path)) as raw:
            return hashlib.sha256(raw.raw_image.tobytes()).hexdigest()
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    with Image.open(path) as image:
        return hashlib.sha256(image.convert("RGBA").tobytes()).hexdigest()


def exiv2_subjects(path: Path) -> list[str]:
    out = subprocess.run(["exiv2", "-px", str(path)], capture_output=True, text=True).stdout
    found = [line for line in out.splitlines() if line.startswith("Xmp.dc.subject")]
    return [word.strip() for line in found for word in line.split(None, 3)[3].split(",")]


def own_files(folder: Path) -> list[Path]:
    """The tests' own JPEG and PNG (no sample is either), made by libvips and Pillow."""
    from PIL import Image

    jpeg = media.jpeg(folder / "IMG_0008.jpg", 800, 600)
    png = folder / "IMG_0009.png"
    Image.new("RGB", (320, 200), (30, 120, 200)).save(png)
    return [jpeg, png]


@media.needs_samples
def test_embedded_tags_are_read_back_and_nothing_is_paid_twice_or_lost(
    library: Library, control: EmulatorControl
) -> None:
    photos = library.photos
    files = own_files(photos)
    for sample, name in WRITABLE_SAMPLES.items():
        shutil.copy2(media.sample(sample), photos / name)
        files.append(photos / name)
    before = {f.name: (dump(f), image_data(f), f.stat().st_mtime_ns) for f in files}
    library.configure(sidecars={"embed": True, "formats": ["json"]})
    result = library.cli("scan")
    assert result.returncode == 0, result.stderr
    jobs = library.jobs()
    assert {name: job["state"] for name, job in jobs.items()} == dict.fromkeys(jobs, "done")
    uploads = len(control.uploads())
    for path in files:
        asset = json.loads(path.with_name(path.name + ".visionati.json").read_text())["asset"]
        words = list(asset["tags"])
        tags = dump(path)
        assert set(words) <= set(as_list(tags["XMP-dc:Subject"])), path.name
        old_dump = before[path.name][0]
        theirs = [old_dump[k] for k in DESCRIBED if old_dump.get(k)]
        if theirs:  # the user's description stays; ours goes only where there is none
            assert [tags[k] for k in DESCRIBED if old_dump.get(k)] == theirs, path.name
        else:
            assert tags["XMP-dc:Description"] == asset["descriptions"][0]["description"]
        if path.suffix.lower() not in (".mp4", ".mov", ".avif"):  # exiv2 0.27 reads no XMP there
            assert set(words) <= set(exiv2_subjects(path)), path.name
        _, old_data, old_mtime = before[path.name]
        assert image_data(path) == old_data, f"{path.name}: image data changed"
        assert path.stat().st_mtime_ns == old_mtime, path.name
        assert not [p for p in photos.iterdir() if ".vsync-" in p.name]

    # a rescan, a move and a copy of the written files upload nothing
    assert library.cli("scan").returncode == 0
    (photos / "moved").mkdir()
    os.rename(photos / "IMG_0008.jpg", photos / "moved" / "IMG_0008.jpg")
    shutil.copy2(photos / "IMG_0001.HEIC", photos / "copy of IMG_0001.HEIC")
    shutil.copy2(photos / "MVI_0006.MP4", photos / "copy of MVI_0006.MP4")
    result = library.cli("scan")
    assert result.returncode == 0, result.stderr
    assert len(control.uploads()) == uploads, "a file we wrote into was paid for again"
    jobs = library.jobs()
    assert jobs["copy of IMG_0001.HEIC"]["state"] == "done"
    os.rename(photos / "moved" / "IMG_0008.jpg", photos / "IMG_0008.jpg")

    # untag gives back exiftool's dump of every file as it was before the scan
    result = library.cli("untag", str(photos))
    assert result.returncode == 0, result.stderr
    for path in files:
        old_dump, old_data, _ = before[path.name]
        assert dump(path) == old_dump, path.name
        assert image_data(path) == old_data, path.name


CORRUPTING_EXIFTOOL = r'''#!{python}
"""exiftool, as the test's wrapper: every command passed to the real one, and the image
data of each copy it wrote flipped before the answer goes back (as a faulty writer would)."""
import queue, subprocess, sys, threading
import ctypes
pipe = subprocess.PIPE
end_with_us = lambda: ctypes.CDLL("libc.so.6").prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
real = subprocess.Popen(
    ["{exiftool}", *sys.argv[1:]], stdin=pipe, stdout=pipe, preexec_fn=end_with_us
)
commands = queue.Queue()

def answers():
    for line in real.stdout:
        if line.strip() == b"{{ready}}":
            args = commands.get()
            if "-overwrite_original" in args and ".vsync-" in args[-1]:
                with open(args[-1], "r+b") as f:
                    f.seek(-200, 2); byte = f.read(1)[0]
                    f.seek(-200, 2); f.write(bytes([byte ^ 0xFF]))
        sys.stdout.buffer.write(line); sys.stdout.buffer.flush()

threading.Thread(target=answers, daemon=True).start()
args = []
for line in sys.stdin:
    text = line.strip()
    if text == "-execute":
        commands.put([a for a in args if a not in ("-echo4", "{{ready}}")]); args = []
    elif text:
        args.append(text)
    real.stdin.write(line.encode()); real.stdin.flush()
real.stdin.close(); real.wait()
'''


def test_a_write_that_would_change_the_image_data_is_undone(
    library: Library, tmp_path: Path
) -> None:
    (image,) = own_files(library.photos)[:1]
    original = image.read_bytes()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "exiftool"
    wrapper.write_text(
        CORRUPTING_EXIFTOOL.format(python=sys.executable, exiftool=shutil.which("exiftool"))
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    (library.photos / "IMG_0009.png").unlink()
    library.env["PATH"] = f"{bin_dir}:{library.env['PATH']}"
    library.configure(sidecars={"embed": True})
    result = library.cli("scan")
    job = library.jobs()[image.name]
    assert job["state"] == "failed", job
    assert "would change its image data" in job["error"]
    assert image.read_bytes() == original
    assert not [p for p in library.photos.iterdir() if ".vsync-" in p.name]
    assert result.returncode != 0 or "failed" in result.stderr + result.stdout


def test_embed_backup_keeps_each_file_as_it_was_before_its_first_write(library: Library) -> None:
    """``sidecars.embed_backup``: the original, byte for byte, under the folder the user
    names at its own path; a later write into the same file leaves that first copy alone."""
    photo = media.jpeg(library.photos / "IMG_0001.jpg", 640, 480)
    original = photo.read_bytes()
    backups = library.tmp / "backups"
    library.configure(sidecars={"embed": True, "embed_backup": str(backups)})
    assert library.cli("scan").returncode == 0
    kept = backups / photo.resolve().relative_to("/")
    assert kept.read_bytes() == original
    assert photo.read_bytes() != original  # the tags went inside
    assert library.cli("scan", "--retag", str(photo)).returncode == 0  # written into again
    assert kept.read_bytes() == original
