"""Copies, renames, moves and restores of tagged photos cost no API call."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from support import (
    Daemon,
    EmulatorControl,
    base_config,
    clean_env,
    cli_json,
    wait_until,
    write_config,
)
from visionati_sync import samples
from visionati_sync.emulator import Emulator

pytestmark = pytest.mark.slow


def sidecars_of(image: Path) -> tuple[Path, Path]:
    return image.with_name(image.name + ".xmp"), image.with_name(image.name + ".visionati.json")


def test_copies_renames_moves_and_restores_are_served_without_uploading(
    tmp_path: Path, emulator: Emulator, control: EmulatorControl
) -> None:
    photos, elsewhere = tmp_path / "photos", tmp_path / "elsewhere"
    a, b, c, d = samples.write_library(photos, 4)
    elsewhere.mkdir()
    (photos / "2024").mkdir()
    config = write_config(tmp_path / "config.yaml", base_config(emulator.url, tmp_path, [photos]))
    env = clean_env(tmp_path)

    def done() -> int:
        return cli_json(config, "status", env=env)["counts"]["done"]

    with Daemon(config, tmp_path / "daemon.log", env) as daemon:
        wait_until(lambda: done() == 4, 30, 0.2, "the first four tagged")
        uploads_before = len(control.uploads())
        jobs_before = {Path(j["path"]).name: j["id"] for j in cli_json(config, "jobs", env=env)}

        shutil.copy(a, photos / "copy of A.jpg")  # a copy
        b.rename(photos / "renamed.png")  # a rename
        c.rename(photos / "2024" / c.name)  # a move into a sub-folder
        (photos / "new").mkdir()
        shutil.copy(a, photos / "new" / "A again.jpg")  # into a folder inotify meets late
        saved = d.read_bytes()
        for path in (d, *sidecars_of(d)):  # deleted with its sidecars, then put back
            path.unlink()
        wait_until(
            lambda: str(d) not in {j["path"] for j in cli_json(config, "jobs", env=env)},
            10, 0.2, "the deleted file's job dropped",
        )  # fmt: skip
        (elsewhere / d.name).write_bytes(saved)
        (elsewhere / d.name).rename(d)

        moved = [
            photos / "copy of A.jpg", photos / "renamed.png", photos / "2024" / c.name, d,
            photos / "new" / "A again.jpg",
        ]  # fmt: skip
        wait_until(lambda: all(s.exists() for m in moved for s in sidecars_of(m)), 30, 0.2)
        wait_until(lambda: done() == 6, 30, 0.2, "six files done")
        assert daemon.stop() == 0

    assert len(control.uploads()) == uploads_before  # not one more upload
    jobs = {Path(j["path"]).name: j for j in cli_json(config, "jobs", env=env)}
    assert jobs["renamed.png"]["id"] == jobs_before[b.name]  # the job moved with the file
    assert jobs[c.name]["path"] == str(photos / "2024" / c.name)
    assert jobs[c.name]["id"] == jobs_before[c.name]
    assert b.name not in jobs
    original = json.loads(sidecars_of(a)[1].read_text())["asset"]
    copied = json.loads(sidecars_of(photos / "copy of A.jpg")[1].read_text())
    assert copied["asset"] == original and copied["file"] == "copy of A.jpg"
