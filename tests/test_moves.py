"""Copies, renames, moves and restores of tagged photos cost no API call."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from support import EmulatorControl, Library, wait_until
from visionati_sync.devtools import samples

pytestmark = pytest.mark.slow


def sidecars_of(image: Path) -> tuple[Path, Path]:
    return image.with_name(image.name + ".xmp"), image.with_name(image.name + ".visionati.json")


def test_copies_renames_moves_and_restores_are_served_without_uploading(
    tmp_path: Path, library: Library, control: EmulatorControl
) -> None:
    photos, elsewhere = library.photos, tmp_path / "elsewhere"
    a, b, c, d = samples.write_library(photos, 4)
    elsewhere.mkdir()
    (photos / "2024").mkdir()
    with library.daemon() as daemon:
        library.wait_for("done", 4)
        uploads_before = len(control.uploads())
        jobs_before = {name: job["id"] for name, job in library.jobs().items()}

        shutil.copy(a, photos / "copy of A.jpg")  # a copy
        b.rename(photos / "renamed.png")  # a rename
        c.rename(photos / "2024" / c.name)  # a move into a sub-folder
        (photos / "new").mkdir()
        shutil.copy(a, photos / "new" / "A again.jpg")  # into a folder inotify meets late
        saved = d.read_bytes()
        for path in (d, *sidecars_of(d)):  # deleted with its sidecars, then put back
            path.unlink()
        wait_until(
            lambda: d.name not in library.jobs(),
            10, 0.2, "the deleted file's job dropped",
        )  # fmt: skip
        (elsewhere / d.name).write_bytes(saved)
        (elsewhere / d.name).rename(d)

        moved = [
            photos / "copy of A.jpg", photos / "renamed.png", photos / "2024" / c.name, d,
            photos / "new" / "A again.jpg",
        ]  # fmt: skip
        wait_until(lambda: all(s.exists() for m in moved for s in sidecars_of(m)), 30, 0.2)
        library.wait_for("done", 6)
        assert daemon.stop() == 0

    assert len(control.uploads()) == uploads_before  # not one more upload
    jobs = library.jobs()
    assert jobs["renamed.png"]["id"] == jobs_before[b.name]  # the job moved with the file
    assert jobs[c.name]["path"] == str(photos / "2024" / c.name)
    assert jobs[c.name]["id"] == jobs_before[c.name]
    assert b.name not in jobs
    original = json.loads(sidecars_of(a)[1].read_text())["asset"]
    copied = json.loads(sidecars_of(photos / "copy of A.jpg")[1].read_text())
    assert copied["asset"] == original and copied["file"] == "copy of A.jpg"
