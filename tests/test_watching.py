"""Observers that die or folders that go away (an unmounted share) are re-established."""

from __future__ import annotations

import pytest

from support import Library, wait_until
from visionati_sync.devtools import samples

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
def test_a_folder_that_goes_away_and_comes_back_is_watched_again(
    library: Library, polling: bool
) -> None:
    share = library.photos
    library.configure(watch={"polling": polling})
    with library.daemon() as daemon:
        wait_until(lambda: daemon.logged("watching folder", folder=str(share)), 20)
        (share / "first.jpg").write_bytes(samples.jpeg(1))
        library.wait_for("done", 1)
        share.rename(library.tmp / "unmounted")  # the share goes away, its files with it
        wait_until(lambda: daemon.logged("folder watch lost"), 20, 0.2)
        (library.tmp / "unmounted").rename(share)  # and comes back, with a new photo
        (share / "second.jpg").write_bytes(samples.jpeg(2))
        wait_until(lambda: len(daemon.logged("watching folder", folder=str(share))) == 2, 20)
        library.wait_for("done", 2)
        assert daemon.alive()
        assert daemon.stop() == 0
