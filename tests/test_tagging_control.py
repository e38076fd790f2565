"""The user in control of what is written, end to end through the commands: results reviewed
before they are applied, tags taken back by `untag`, fresh answers asked for on purpose, and
keywords in the user's vocabulary. Every sidecar is read back by exiftool."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from readers import as_list, exiftool, exiv2_loads
from support import EmulatorControl, Library
from visionati_sync.devtools import samples
from visionati_sync.rules import vocabulary

DATA = Path(__file__).parent / "data"
SHAPES = sorted((DATA / "xmp").glob("*.xmp"))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sidecars(folder: Path) -> dict[str, bytes]:
    """Every sidecar in the folder, by name, with its bytes."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name.endswith((".xmp", ".json"))}


def xmp_dump(*paths: Path) -> dict[str, dict[str, Any]]:
    """What exiftool reads of each sidecar, without what describes the file on disk."""
    return {
        path.name: {
            k: v for k, v in tags.items() if k != "SourceFile" and not k.startswith("System:")
        }
        for path, tags in exiftool(*paths).items()
    }


def with_users_sidecars(library: Library, count: int) -> tuple[list[Path], list[Path]]:
    """Photos, the first of them with a sidecar a photo manager wrote (one of each shape)."""
    photos = samples.write_library(library.photos, count)
    theirs = []
    for photo, shape in zip(photos, SHAPES, strict=False):
        sidecar = photo.with_name(photo.name + ".xmp")
        shutil.copy(shape, sidecar)
        theirs.append(sidecar)
    return photos, theirs


@pytest.mark.slow
def test_review_pays_once_writes_nothing_until_apply_and_preview_tells_the_truth(
    library: Library, control: EmulatorControl
) -> None:
    library.configure(sidecars={"apply": "review", "marker_keyword": "auto-tagged"})
    photos, _ = with_users_sidecars(library, 5)
    before = sidecars(library.photos)
    assert library.cli("scan").returncode == 0
    assert library.counts()["review"] == 5
    assert sorted(control.uploaded_hashes()) == sorted(sha(p) for p in photos)
    assert sidecars(library.photos) == before  # not a byte written
    assert library.json("estimate", "--json")["credits"] == 0  # paid, waiting for review

    changes = library.json("preview", "--json")
    assert sorted(Path(c["path"]).name for c in changes) == sorted(p.name for p in photos)
    assert all(c["keywords_added"] and c["error"] is None for c in changes)
    text = library.cli("preview", str(photos[0])).stdout
    assert "+ keywords:" in text and "auto-tagged" in text
    calls = len(control.log())

    result = library.cli("apply", "--all")
    assert result.returncode == 0 and result.stdout.strip() == "5 file(s) written"
    assert len(control.log()) == calls  # no API call
    assert library.counts()["done"] == 5 and library.json("preview", "--json") == []
    for change in changes:
        sidecar = Path(change["sidecar"])
        exiv2_loads(sidecar)
        tags = exiftool(sidecar)[sidecar]
        subject = as_list(tags["XMP-dc:Subject"])
        hierarchical = as_list(tags["XMP-lr:HierarchicalSubject"])
        # exactly what preview said was added, after what was there
        assert subject[-len(change["keywords_added"]) :] == change["keywords_added"]
        assert hierarchical[-len(change["hierarchical_added"]) :] == change["hierarchical_added"]
        if change["description_added"]:
            assert tags["XMP-dc:Description"] == change["description_added"]
        assert "auto-tagged" in subject
    assert library.cli("scan").returncode == 0  # a rescan pays for nothing again
    assert len(control.uploaded_hashes()) == 5


@pytest.mark.slow
def test_untag_restores_the_users_sidecars_and_removes_ours(
    library: Library, control: EmulatorControl
) -> None:
    _, theirs = with_users_sidecars(library, 6)
    before = xmp_dump(*theirs)
    assert library.cli("scan").returncode == 0
    assert xmp_dump(*theirs) != before  # tagged
    ours = sorted(set(sidecars(library.photos)) - {p.name for p in theirs})
    assert len(ours) == 6 + 2  # a JSON sidecar each, and two XMPs of our own

    tagged = theirs[0].read_bytes()
    theirs[0].write_bytes(b"<x:xmpmeta><rdf:RDF")  # broken since, by some other program
    result = library.cli("untag", "--all")
    assert result.returncode == 1 and str(theirs[0]) in result.stderr  # named, and the rest:
    assert result.stdout.strip() == (
        "6 file(s) untagged: 3 XMP sidecar(s) restored, 8 sidecar(s) of ours removed"
    )
    assert theirs[0].read_bytes() == b"<x:xmpmeta><rdf:RDF"  # left as it was
    theirs[0].write_bytes(tagged)  # mended: the next untag finishes the job
    result = library.cli("untag", "--all")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "0 file(s) untagged: 1 XMP sidecar(s) restored, 0 sidecar(s) of ours removed"
    )
    assert xmp_dump(*theirs) == before
    assert sorted(sidecars(library.photos)) == sorted(p.name for p in theirs)
    after = sidecars(library.photos)
    assert library.cli("untag", "--all").stdout.startswith("0 file(s) untagged")
    assert sidecars(library.photos) == after  # a second untag changes nothing

    uploads = len(control.uploaded_hashes())
    estimate = library.json("estimate", "--json")
    assert (estimate["untagged"], estimate["credits"]) == (6, 0)  # nothing to pay for
    assert library.cli("scan").returncode == 0  # a rescan leaves them alone
    assert library.counts()["untagged"] == 6 and sidecars(library.photos) == after
    assert library.cli("scan", "--retag").returncode == 0  # until asked: from the cache
    assert library.counts()["done"] == 6
    assert len(control.uploaded_hashes()) == uploads
    assert xmp_dump(*theirs) != before


@pytest.mark.slow
def test_scan_refresh_asks_again_for_the_chosen_files_only(
    library: Library, control: EmulatorControl
) -> None:
    photos = samples.write_library(library.photos, 4)
    assert library.cli("scan").returncode == 0
    assert len(control.uploaded_hashes()) == 4
    chosen = [str(photos[0]), str(photos[3])]
    estimate = library.json("estimate", "--refresh", *chosen, "--json")
    assert (estimate["refreshed"], estimate["to_upload"], estimate["credits"]) == (2, 2, 18)
    assert library.json("estimate", "--json")["credits"] == 0  # nothing, without --refresh

    result = library.cli("scan", "--refresh", *chosen, "--confirm-above", "10")
    assert result.returncode == 2  # over the confirmation threshold: asked, not confirmed
    assert len(control.uploaded_hashes()) == 4
    assert library.cli("scan", "--refresh", *chosen).returncode == 0
    uploaded = control.uploaded_hashes()
    assert sorted(uploaded[4:]) == sorted(sha(photos[i]) for i in (0, 3))
    assert library.counts()["done"] == 4
    for photo in photos:  # the refreshed sidecars hold the new answer; the others the first
        document = json.loads(photo.with_name(photo.name + ".visionati.json").read_text())
        sidecar = photo.with_name(photo.name + ".xmp")
        assert exiftool(sidecar)[sidecar]["XMP-vsync:RequestID"] == document["request_id"]
        refreshed = photo in (photos[0], photos[3])
        assert (document["request_id"] != first_request(control, photo)) == refreshed, photo


def first_request(control: EmulatorControl, photo: Path) -> str:
    """The request that first carried the photo's bytes, as the emulator logged it."""
    content = sha(photo)
    return next(e["request_id"] for e in control.uploads() if content in e.get("sha256", []))


@pytest.mark.slow
def test_a_folder_s_own_vocabulary_shapes_its_keywords(
    library: Library, control: EmulatorControl
) -> None:
    """The emulator answers with plain words (dog, beach, car, light…): the folder's
    vocabulary puts them in the user's tree and spelling."""
    samples.write_library(library.photos, 8)
    keyword_list = DATA / "keywords" / "lightroom-keywords.txt"
    tree = {"|".join(path) for path in vocabulary.load(keyword_list).paths.values()}
    folder = {
        "path": str(library.photos),
        "keywords": {
            "vocabulary": str(keyword_list),
            "unmatched": "drop",
            "exclude": ["person", "portrait"],
        },
    }
    library.configure(folders=[folder])
    assert library.cli("scan").returncode == 0
    paths = sorted(library.photos.glob("*.xmp"))
    everything: set[str] = set()
    for tags in exiftool(*paths).values():
        hierarchical = as_list(tags.get("XMP-lr:HierarchicalSubject"))
        assert set(hierarchical) <= tree, hierarchical  # each a keyword of the user's tree
        everything |= set(hierarchical)
        subject = {v.casefold() for v in as_list(tags.get("XMP-dc:Subject"))}
        assert not subject & {"person", "portrait"}
    assert everything  # the vocabulary knew some of the emulator's words
