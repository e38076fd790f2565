"""A command acts only where it was told: the config's folders, or the PATHS given. A config
that names no folder acts on nothing and says so (once, it re-tagged and re-paid a whole
fleet's table); a refresh's confirmation is computed on exactly what it queues, so the
estimate is the charge; `estimate` says what `scan` says of a missing path, and prices
nothing the scan will not send."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from support import EmulatorControl, Library
from visionati_sync.devtools import samples

pytestmark = pytest.mark.slow


def two_folders(library: Library) -> tuple[Path, Path]:
    """A library of two folders, tagged: four photos in one, three (reviewed) in the other,
    one of them untagged by the user since."""
    shop = library.tmp / "shop"
    samples.write_library(library.photos, 4)
    samples.write_library(shop, 3, start=4)
    library.configure([{"path": str(library.photos)}, {"path": str(shop), "apply": "review"}])
    assert library.cli("scan").returncode == 0
    assert library.cli("untag", str(next(library.photos.glob("*.jpg")))).returncode == 0
    return library.photos, shop


def test_a_config_that_names_no_folder_acts_on_nothing_and_says_so(
    library: Library, control: EmulatorControl
) -> None:
    two_folders(library)
    counts, uploads = library.counts(), len(control.uploads())
    assert (counts["done"], counts["review"], counts["untagged"]) == (3, 3, 1)
    library.configure(folders=[])  # a new user's config: the API and nothing else
    for command in (
        ["estimate", "--refresh"],
        ["scan", "--refresh", "--yes"],
        ["scan", "--retag", "--yes"],
        ["untag", "--all"],
        ["apply", "--all"],
    ):
        result = library.cli(*command, timeout=60)
        assert result.returncode == 2, (command, result.stderr)
        assert "no folder is configured and no PATH was given: nothing to" in result.stderr
        assert library.counts() == counts, command  # not one job moved
    assert len(control.uploads()) == uploads


def test_a_refresh_queues_what_its_estimate_priced_and_is_charged_that(
    library: Library, control: EmulatorControl
) -> None:
    photos, shop = two_folders(library)
    excluded = sorted(photos.glob("*.png"))[:1] or sorted(photos.glob("*.jpg"))[-1:]
    # a file tagged before, excluded from the scans since: not walked, not asked again
    library.configure(
        [{"path": str(photos)}, {"path": str(shop), "apply": "review"}],
        watch={"exclude": [excluded[0].name]},
    )
    asked = library.cli("scan", "--refresh", "--confirm-above", "0")
    assert asked.returncode == 2  # no terminal to confirm on: the estimate is said
    planned = int(re.search(r"estimate \(([\d,]+) credits\)", asked.stderr)[1].replace(",", ""))  # type: ignore[index]
    assert planned == library.json("estimate", "--refresh")["credits"] == 6 * 9
    balance = control.settings()["credits"]
    result = library.cli("scan", "--refresh", "--yes", timeout=120)  # and it ends
    assert result.returncode == 0, result.stderr
    assert "6 tagged file(s) queued to be asked of the API again" in result.stderr
    assert balance - control.settings()["credits"] == planned


def test_estimate_of_a_missing_path_is_an_error_as_in_scan(library: Library) -> None:
    samples.write_library(library.photos, 2)
    missing = library.photos / "no-such-photo.jpg"
    for command in ("estimate", "scan"):
        result = library.cli(command, str(missing))
        assert result.returncode == 1, (command, result.stderr)
        assert f"error: {missing}: no such file or directory" in result.stderr


def test_the_estimate_prices_nothing_the_scan_will_not_send(
    library: Library, control: EmulatorControl
) -> None:
    (photo,) = samples.write_library(library.photos, 1)
    (library.photos / "empty.jpg").write_bytes(b"")  # skipped by the scan
    (library.photos / "broken.jpg").write_bytes(samples.jpeg(7))
    (library.photos / "broken.jpg.xmp").write_bytes(b"<x:xmpmeta><rdf:RDF>half")  # failed
    assert library.cli("scan").returncode == 1
    states = {name: job["state"] for name, job in library.jobs().items()}
    assert states == {photo.name: "done", "empty.jpg": "skipped", "broken.jpg": "failed"}
    estimate = library.json("estimate")
    assert (estimate["credits"], estimate["skipped"], estimate["failed"]) == (0, 1, 1)
    library.configure(api={"backends": ["clarifai"]})  # other options: `--retag` asks again
    assert library.json("estimate")["credits"] == 0
    assert library.json("estimate")["other_options"] == 1
    uploads = len(control.uploads())
    assert library.cli("scan").returncode == 1  # (one failed) and, as estimated, nothing sent
    assert len(control.uploads()) == uploads
