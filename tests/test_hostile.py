"""A hostile library, as people and other programs leave shared folders: odd names, copies,
overlapping folders, links to other people's files, special files, sidecars that are not
sidecars, names too long, a folder the daemon may not write. The real daemon against the
emulator: it keeps running, tags every good photo, pays once per content, reads nothing
from outside the folders into them, finds every problem before paying for it, and names
the file and the cause of each failure."""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from support import EmulatorControl, Library, drop_privileges, wait_until
from visionati_sync.devtools import samples

pytestmark = pytest.mark.slow
SECRET = b"<!-- a private description nobody else may read -->"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_hostile_library_is_tagged_once_and_leaks_nothing(
    tmp_path: Path, library: Library, control: EmulatorControl
) -> None:
    photos = library.photos
    private = tmp_path / "private"
    private.mkdir()
    (private / "secret.xmp").write_bytes(
        b"<x:xmpmeta><rdf:RDF>" + SECRET + b"</rdf:RDF></x:xmpmeta>"
    )
    (private / "secret.jpg").write_bytes(samples.jpeg(666))

    good = {path: path.read_bytes() for path in samples.write_library(photos, 3)}
    odd_names = [b"caf\xe9.jpg", b"\xff\xfe.png", b"new\nline.jpg", "日本の写真.jpg".encode()]
    for n, raw in enumerate(odd_names):
        path = Path(os.fsdecode(bytes(photos) + b"/" + raw))
        path.write_bytes(samples.jpeg(100 + n))
        good[path] = path.read_bytes()
    copy = samples.jpeg(200)
    for n in range(4):  # four copies of one photo, arriving together
        (photos / f"copy{n}.jpg").write_bytes(copy)
        good[photos / f"copy{n}.jpg"] = copy
    (photos / "sub").mkdir()  # a configured folder inside another
    for n in range(2):
        (photos / "sub" / f"inner{n}.jpg").write_bytes(samples.jpeg(300 + n))
        good[photos / "sub" / f"inner{n}.jpg"] = samples.jpeg(300 + n)

    bad: dict[str, tuple[bytes, str]] = {}  # name → (its bytes, what jobs must say)
    for name, why in (
        ("linked.jpg", "a symbolic link; sidecars are never read or written through it"),
        ("dirside.jpg", "a directory; sidecars are never read or written through it"),
        ("broken.jpg", "cannot parse XMP"),
        ("写" * 80 + ".jpg", "the sidecar's name is 259 bytes; this file system takes 255"),
    ):
        data = samples.jpeg(400 + len(bad))
        (photos / name).write_bytes(data)
        bad[name] = (data, why)
    (photos / "linked.jpg.xmp").symlink_to(private / "secret.xmp")
    (photos / "dirside.jpg.xmp").mkdir()
    (photos / "broken.jpg.xmp").write_bytes(b"<x:xmpmeta><rdf:RDF>half a sidecar")
    (photos / "outside.jpg").symlink_to(private / "secret.jpg")  # never followed
    os.mkfifo(photos / "pipe.jpg")  # never opened to wait on
    locked = photos / "locked"
    locked.mkdir()
    (locked / "inside.jpg").write_bytes(samples.jpeg(500))
    bad["inside.jpg"] = (samples.jpeg(500), "no sidecar can be written in this folder")
    (photos / "swap.jpg").write_bytes(samples.jpeg(600))

    old = time.time() - 3600
    for path in [*photos.rglob("*"), *private.iterdir()]:
        if not path.is_symlink() and path.is_file():
            os.utime(path, (old, old))  # complete: queued by the start-up scan
    locked.chmod(0o555)
    library.configure(
        [photos, photos / ".." / "photos", photos / "sub"],
        api={"batch_size": 6, "retry_base_delay": 0.3},
    )
    # the first upload is rate limited: every file waits in the queue while swap.jpg, already
    # queued as a photo, becomes a FIFO (a plain open of it would hang the daemon for good)
    control.faults({"method": "POST", "path": "/api/fetch", "status": 429,
                    "headers": {"Retry-After": "2"}, "body": {"error": "slow down"}})  # fmt: skip
    try:
        with library.daemon(wrapper=drop_privileges()) as daemon:
            wait_until(lambda: daemon.logged("submissions paused"), 30, what="the pause")
            (photos / "swap.jpg").unlink()
            os.mkfifo(photos / "swap.jpg")
            expected_done = len(good)
            counts = library.wait_for("done", expected_done, 90)
            wait_until(lambda: library.counts()["failed"] + library.counts()["skipped"]
                       == len(bad), 30, what="every bad file ended")  # fmt: skip
            assert daemon.alive()
            assert daemon.stop() == 0
    finally:
        locked.chmod(0o755)
    assert counts["pending"] == counts["submitted"] == 0

    # every good photo has its sidecars, named by its own bytes
    for path in good:
        assert path.with_name(path.name + ".xmp").is_file(), path
        assert path.with_name(path.name + ".visionati.json").is_file(), path
    # each failure names the file and the cause; none was paid for
    jobs = library.json("jobs")
    by_name = {Path(job["path"]).name: job for job in jobs}
    for name, (_, why) in bad.items():
        job = by_name[name]
        assert job["state"] in ("failed", "skipped") and why in job["error"], (name, job)
    # swap.jpg became a FIFO while queued: dropped (the watcher saw it go) or skipped (the
    # submitter opened it without blocking); either way the daemon went on
    swap = by_name.get("swap.jpg")
    assert swap is None or "a FIFO (named pipe), not a regular file" in swap["error"]
    assert "pipe.jpg" not in by_name and "outside.jpg" not in by_name  # never jobs
    uploaded = Counter(control.uploaded_hashes())
    assert set(uploaded.values()) == {1}  # each content once: the copies paid once
    assert set(uploaded) == {sha(data) for data in good.values()}
    assert not {sha(data) for data, _ in bad.values()} & set(uploaded)
    assert sha(samples.jpeg(600)) not in uploaded
    assert sha((private / "secret.jpg").read_bytes()) not in uploaded
    # nothing from outside the folders was read into them
    assert SECRET not in b"".join(
        p.read_bytes()
        for p in photos.rglob("*")
        if p.is_file() and not p.is_symlink() and p.stat().st_size < 10**6
    )
    assert (private / "secret.xmp").read_bytes().count(SECRET) == 1
    # odd names are shown escaped, one row each
    names = {job["path"].rsplit("/", 1)[1] for job in jobs}
    assert {"caf\\xe9.jpg", "\\xff\\xfe.png", "new\\nline.jpg", "日本の写真.jpg"} <= names
    text = library.cli("jobs").stdout.splitlines()
    assert len(text) == len(jobs) + 1  # a header, then a row a job
    assert len([j for j in jobs if "inner" in j["path"]]) == 2  # one job each, not two
    assert daemon.logged("the same folder as folders[0]")


def test_a_sidecar_write_refused_after_paying_waits_and_is_written_with_no_new_upload(
    library: Library, control: EmulatorControl
) -> None:
    control.settings(queued_polls=100_000)  # the API holds the request while the folder turns
    (image,) = samples.write_library(library.photos, 1)
    library.configure(api={"retry_base_delay": 0.3, "retry_max_delay": 1})
    try:
        with library.daemon(wrapper=drop_privileges()) as daemon:
            library.wait_for("submitted", 1)
            library.photos.chmod(0o555)  # made read-only after the upload was paid for
            control.settings(queued_polls=0, processing_polls=0)

            def refused() -> list[dict[str, str]]:
                return [j for j in library.json("jobs") if "waiting to write" in (j["error"] or "")]

            waiting = wait_until(refused, 30, what="the write to be refused and kept")
            assert waiting[0]["state"] == "submitted"  # not failed: its result is kept
            assert "Permission denied" in waiting[0]["error"]
            library.photos.chmod(0o755)
            library.wait_for("done", 1)  # written by itself
            assert daemon.stop() == 0
    finally:
        library.photos.chmod(0o755)
    assert len(control.uploads()) == 1  # paid once
    assert image.with_name(image.name + ".xmp").is_file()


ODD = [b"caf\xe9.jpg", b"\xff\xfe.png", b"tab\there.jpg", b"new\nline.jpg"]


def odd(folder: Path, raw: bytes) -> Path:
    return Path(os.fsdecode(bytes(folder) + b"/" + raw))


def test_odd_names_pass_through_every_command_and_the_watch(library: Library) -> None:
    photos = library.photos
    for n, raw in enumerate(ODD[:2]):  # there before the start: found by scans
        odd(photos, raw).write_bytes(samples.jpeg(700 + n))
    broken = odd(photos, b"bad\xe9.jpg")
    broken.write_bytes(samples.jpeg(710))
    odd(photos, b"bad\xe9.jpg.xmp").write_bytes(b"<x:xmpmeta>not XMP")
    estimate = library.json("estimate")
    assert (estimate["files"], estimate["to_upload"]) == (3, 3)
    with library.daemon() as daemon:
        wait_until(lambda: daemon.logged("watching folder"), 30)
        for n, raw in enumerate(ODD[2:]):  # arriving while watched: found by the watch
            odd(photos, raw).write_bytes(samples.jpeg(720 + n))
        library.wait_for("done", len(ODD), 60)
        assert daemon.stop() == 0
    for raw in ODD:
        assert odd(photos, raw + b".xmp").is_file()
        assert odd(photos, raw + b".visionati.json").is_file()
    status = library.cli("status")
    assert status.returncode == 0
    assert "bad\\xe9.jpg: " in status.stdout and "cannot parse XMP" in status.stdout
    listed = library.cli("jobs").stdout
    for shown in ("caf\\xe9.jpg", "\\xff\\xfe.png", "tab\\there.jpg", "new\\nline.jpg"):
        assert shown in listed
    assert len(listed.splitlines()) == 1 + len(ODD) + 1  # header, each file once, bad\xe9
    assert not [line for line in daemon.lines() if "Traceback" in str(line)]
