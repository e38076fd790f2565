"""Observers that die or folders that go away (an unmounted share) are re-established."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import Daemon, base_config, clean_env, cli_json, wait_until, write_config
from visionati_sync import samples
from visionati_sync.emulator import Emulator

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
def test_a_folder_that_goes_away_and_comes_back_is_watched_again(
    tmp_path: Path, emulator: Emulator, polling: bool
) -> None:
    share = tmp_path / "share"
    share.mkdir()
    config = write_config(
        tmp_path / "config.yaml",
        base_config(emulator.url, tmp_path, [share], watch={"polling": polling}),
    )
    env = clean_env(tmp_path)

    def done() -> int:
        return cli_json(config, "status", env=env)["counts"]["done"]

    with Daemon(config, tmp_path / "daemon.log", env) as daemon:
        wait_until(lambda: daemon.logged("watching folder", folder=str(share)), 20)
        (share / "first.jpg").write_bytes(samples.jpeg(1))
        wait_until(lambda: done() == 1, 30, 0.2, "first.jpg tagged")
        share.rename(tmp_path / "unmounted")  # the share goes away, its files with it
        wait_until(lambda: daemon.logged("folder watch lost"), 20, 0.2)
        (tmp_path / "unmounted").rename(share)  # and comes back, with a new photo
        (share / "second.jpg").write_bytes(samples.jpeg(2))
        wait_until(lambda: len(daemon.logged("watching folder", folder=str(share))) == 2, 20)
        wait_until(lambda: done() == 2, 30, 0.2, "second.jpg tagged")
        assert daemon.alive()
        assert daemon.stop() == 0
