"""kill -9 at random moments of a 200-file run, ten times, restarting each time: every file
ends with exactly one set of sidecars that match it, and no file is uploaded twice except
in a request that was in flight at a kill."""

from __future__ import annotations

import hashlib
import json
import random
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from readers import as_list, exiftool
from support import EmulatorControl, Library, wait_until
from visionati_sync.devtools import samples
from visionati_sync.rules.keywording import KeywordRules, choose

pytestmark = pytest.mark.slow
FILES, KILLS = 200, 10


def test_ten_kills_lose_nothing_and_pay_nothing_twice(
    tmp_path: Path, library: Library, control: EmulatorControl
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    control.settings(queued_polls=2, processing_polls=2)
    photos = library.photos
    images = samples.write_library(photos, FILES)
    for kill in range(KILLS):
        with library.daemon(f"run{kill}.log") as daemon:
            wait_until(lambda: daemon.logged("daemon started"), 30)  # kill while it works
            time.sleep(rng.uniform(0.05, 1.2))  # a random moment, not a wait for something
            daemon.stop(signal.SIGKILL)
    with library.daemon("final.log") as daemon:
        wait_until(
            lambda: library.counts()["done"] == FILES, 120, 0.5, f"every file done (seed {seed})"
        )
        assert daemon.stop() == 0

    # exactly one set of sidecars per photo, matching it; no temporary file left behind
    names = sorted(p.name for p in photos.iterdir())
    expected = sorted(
        n
        for image in images
        for n in (image.name, image.name + ".xmp", image.name + ".visionati.json")
    )
    assert names == expected, f"seed {seed}"
    tags = exiftool(*(image.with_name(image.name + ".xmp") for image in images))
    for image in images:
        document = json.loads(image.with_name(image.name + ".visionati.json").read_text())
        assert document["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
        xmp = tags[image.with_name(image.name + ".xmp")]
        keywords = [k[-1] for k in choose(document["asset"], KeywordRules())]
        assert as_list(xmp["XMP-dc:Subject"]) == keywords

    # uploads beyond one per file only in requests the daemon never recorded: in flight
    with sqlite3.connect(tmp_path / "state.db") as db:
        recorded = {row[0] for row in db.execute("SELECT id FROM api_requests")}
    uploads = control.uploads()
    unrecorded = [u for u in uploads if u["request_id"] not in recorded]
    assert len(unrecorded) <= KILLS, f"seed {seed}"  # one submitter: one request in flight
    per_file = Counter(h for u in uploads if u["request_id"] in recorded for h in u["sha256"])
    assert set(per_file.values()) == {1}, f"seed {seed}"
    assert len(per_file) == FILES
