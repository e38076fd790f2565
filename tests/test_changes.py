"""Changes no single event announces: a file rewritten while its request is in flight, and
a file the kernel never told the watcher about."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections import Counter

import pytest

from support import EmulatorControl, Library, wait_until
from visionati_sync.devtools import samples

pytestmark = pytest.mark.slow


def test_a_file_changed_while_its_upload_is_in_flight_is_tagged_again(
    library: Library, control: EmulatorControl
) -> None:
    control.settings(queued_polls=100_000)  # the request stays with the API
    (image,) = samples.write_library(library.photos, 1)
    with library.daemon() as daemon:
        library.wait_for("submitted", 1)
        first = control.uploaded_hashes()
        image.write_bytes(samples.png(12345))  # edited while the API works on the old bytes
        control.settings(queued_polls=0)
        library.wait_for("done", 1)
        assert daemon.logged("file changed after upload; tagging it again")
        assert daemon.stop() == 0
    new = hashlib.sha256(image.read_bytes()).hexdigest()
    assert first != [new]
    assert Counter(control.uploaded_hashes()) == Counter([*first, new])  # each bytes once
    sidecar = json.loads(image.with_name(image.name + ".visionati.json").read_text())
    assert sidecar["sha256"] == new  # the sidecar describes what is on disk now


def test_the_periodic_rescan_finds_what_the_watcher_never_heard_of(library: Library) -> None:
    hidden_from_inotify = library.photos / "share"
    hidden_from_inotify.mkdir(parents=True)
    library.configure(watch={"rescan_interval": 1})
    with library.daemon() as daemon:
        wait_until(lambda: daemon.logged("watching folder"), 20)
        # a file system mounted over a watched folder: inotify watches the folder beneath it
        # and is never told of files written into the mount (as with a remote share's writes)
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "none", str(hidden_from_inotify)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
        try:
            (hidden_from_inotify / "unseen.jpg").write_bytes(samples.jpeg(7))
            library.wait_for("done", 1)
            assert daemon.logged("periodic rescan")
            found = [r for r in daemon.logged("scanned folder") if r.get("new") == 1]
            assert found, "the file was found by a rescan, not by an event"
            assert (hidden_from_inotify / "unseen.jpg.xmp").exists()
            assert daemon.stop() == 0
        finally:
            subprocess.run(["umount", str(hidden_from_inotify)], check=False)
