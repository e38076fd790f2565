"""`visionati-sync scan` end to end with each sidecar setting, read back by real readers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from readers import as_list, exiftool, exiv2_loads
from support import Library
from visionati_sync.devtools import samples
from visionati_sync.rules.keywording import KeywordRules, choose

pytestmark = pytest.mark.slow
DATA = Path(__file__).parent / "data" / "xmp"


def scan(library: Library, **sidecars: object) -> tuple[int, str]:
    library.configure(sidecars=sidecars or {})
    result = library.cli("scan")
    return result.returncode, result.stderr


def test_default_writes_xmp_and_json_that_agree(library: Library) -> None:
    images = samples.write_library(library.photos, 4)
    code, stderr = scan(library)
    assert code == 0, stderr
    sidecars = [image.with_name(image.name + ".xmp") for image in images]
    tags = exiftool(*sidecars)
    for image, sidecar in zip(images, sidecars, strict=True):
        exiv2_loads(sidecar)
        asset = json.loads(image.with_name(image.name + ".visionati.json").read_text())["asset"]
        keywords = [k[-1] for k in choose(asset, KeywordRules())]
        assert keywords, image
        assert as_list(tags[sidecar]["XMP-dc:Subject"]) == keywords
        assert as_list(tags[sidecar]["XMP-lr:HierarchicalSubject"]) == [
            f"Visionati|{k}" for k in keywords
        ]
        assert as_list(tags[sidecar]["XMP-digiKam:TagsList"]) == [
            f"Visionati/{k}" for k in keywords
        ]
        assert tags[sidecar]["XMP-dc:Description"] == asset["descriptions"][0]["description"]


@pytest.mark.parametrize(
    ("formats", "suffixes"), [(["xmp"], [".xmp"]), (["json"], [".visionati.json"])]
)
def test_xmp_only_and_json_only(library: Library, formats: list[str], suffixes: list[str]) -> None:
    photos = library.photos
    (image,) = samples.write_library(photos, 1)
    code, stderr = scan(library, formats=formats)
    assert code == 0, stderr
    assert sorted(p.name for p in photos.iterdir()) == sorted(
        [image.name] + [image.name + suffix for suffix in suffixes]
    )


def test_a_broken_sidecar_fails_its_photo_alone_and_stays_as_it_was(library: Library) -> None:
    broken, fine, darktable = samples.write_library(library.photos, 3)
    broken_xmp = broken.with_name(broken.name + ".xmp")
    broken_xmp.write_bytes(b"<x:xmpmeta><rdf:RDF>half a sidecar")
    shutil.copy(DATA / "darktable.xmp", darktable.with_name(darktable.name + ".xmp"))
    code, stderr = scan(library)
    assert code == 1, stderr  # one file failed
    assert broken_xmp.read_bytes() == b"<x:xmpmeta><rdf:RDF>half a sidecar"
    assert not broken.with_name(broken.name + ".visionati.json").exists()
    jobs = library.jobs()
    assert jobs[broken.name]["state"] == "failed"
    assert jobs[broken.name]["error"].startswith(f"{broken_xmp}: cannot parse XMP")
    assert jobs[fine.name]["state"] == jobs[darktable.name]["state"] == "done"
    merged = darktable.with_name(darktable.name + ".xmp")
    exiv2_loads(merged)
    tags = exiftool(merged)[merged]
    history = [step["Operation"] for step in tags["XMP-darktable:History"]]
    assert history == ["colorin", "exposure", "filmicrgb"]
    assert {"family", "Oma"} <= set(as_list(tags["XMP-dc:Subject"]))
