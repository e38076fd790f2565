"""`sidecars.targets`: each photo manager's sidecar names and fields, several at once, and
files that would share one stem-named sidecar; read back by exiftool and exiv2."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from readers import as_list, exiftool, exiv2_loads
from visionati_sync.actions.untag import Untagged, _xmp
from visionati_sync.config import SidecarSettings
from visionati_sync.records import WriteTask
from visionati_sync.rules.targets import Placement, place, sees
from visionati_sync.sidecars import write_sidecars

DATA = Path(__file__).parent / "data" / "xmp"
NEW_KEYWORDS = ["harbour", "sailboat"]


def asset(*words: str) -> dict[str, Any]:
    return {
        "tags": {w: [{"score": 0.9}] for w in words},
        "descriptions": [{"description": f"a photo of {' and '.join(words)}", "source": "x"}],
    }


def task(image: Path, *words: str) -> WriteTask:
    stat = image.stat()
    return WriteTask(
        1, str(image.parent), image.name, stat.st_size, stat.st_mtime_ns, "ab" * 32, "req-1",
        datetime(2026, 12, 4, tzinfo=UTC), {"features": ["tags"]}, asset(*(words or NEW_KEYWORDS)),
    )  # fmt: skip


def settings(*targets: str, **more: Any) -> SidecarSettings:
    return SidecarSettings(formats=["xmp"], targets=list(targets), **more)


def touch(folder: Path, name: str) -> Path:
    (folder / name).write_bytes(b"not read by the writer")
    return folder / name


@pytest.mark.parametrize(
    ("name", "targets", "expected"),
    [
        ("IMG_1.CR2", ["lightroom"], Placement(("replace",), False, True)),
        ("IMG_1.JPG", ["lightroom"], Placement((), True, True)),
        ("IMG_1.dng", ["lightroom"], Placement((), True, True)),
        ("IMG_1.HEIC", ["lightroom"], Placement(("replace",), False, True)),
        ("IMG_1.CR2", ["capture-one"], Placement(("replace",), False, True)),
        ("IMG_1.CR2", ["darktable"], Placement(("append",), False, True)),
        ("IMG_1.CR2", ["digikam"], Placement(("append",), False, True)),
        ("IMG_1.jpg", ["immich"], Placement(("append",), False, True)),
        ("IMG_1.jpg", ["photoprism"], Placement(("append",), False, True)),
        ("IMG_1.HEIC", ["apple-photos"], Placement((), True, True)),
        ("IMG_1.CR2", ["apple-photos"], Placement((), False, True, ("apple-photos",))),
        ("IMG_1.CR2", ["lightroom", "darktable"], Placement(("append", "replace"), False, True)),
        ("IMG_1.jpg", ["lightroom", "immich"], Placement(("append",), True, True)),
        ("IMG_1.CR2", [], Placement(("append",), False, False)),
    ],
)
def test_each_target_puts_tags_where_its_manager_reads(
    name: str, targets: list[Any], expected: Placement
) -> None:
    assert place(name, targets, "append", embed=False) == expected


def test_embed_never_reaches_a_proprietary_raw() -> None:
    assert place("IMG_1.NEF", [], "append", embed=True).embed is False
    assert place("IMG_1.mov", [], "append", embed=True).embed is True
    assert sees("lightroom", "IMG_1.CR2") == "IMG_1.xmp"
    assert sees("lightroom", "IMG_1.jpg") == "inside the file"
    assert sees("darktable", "IMG_1.CR2") == "IMG_1.CR2.xmp"
    assert "nothing" in sees("apple-photos", "IMG_1.CR2")


def test_a_raw_for_lightroom_and_darktable_gets_both_sidecars_each_keeping_its_own(
    tmp_path: Path,
) -> None:
    raw = touch(tmp_path, "IMG_1.CR2")
    shutil.copy(DATA / "lightroom.xmp", tmp_path / "IMG_1.xmp")
    shutil.copy(DATA / "darktable.xmp", tmp_path / "IMG_1.CR2.xmp")
    before = exiftool(tmp_path / "IMG_1.xmp", tmp_path / "IMG_1.CR2.xmp")
    written = write_sidecars(task(raw), settings("lightroom", "darktable"))
    stem, appended = tmp_path / "IMG_1.xmp", tmp_path / "IMG_1.CR2.xmp"
    assert sorted(p.path for p in written) == sorted([stem, appended])
    tags = exiftool(stem, appended)
    for sidecar in (stem, appended):
        exiv2_loads(sidecar)
        for word in NEW_KEYWORDS:
            assert word in as_list(tags[sidecar]["XMP-dc:Subject"]), sidecar
            assert f"Visionati|{word}" in as_list(tags[sidecar]["XMP-lr:HierarchicalSubject"])
            assert f"Visionati/{word}" in as_list(tags[sidecar]["XMP-digiKam:TagsList"])
        assert tags[sidecar]["XMP-dc:Description"] == "a photo of harbour and sailboat"
        ours = ("File:", "XMP-dc", "XMP-lr", "XMP-digiKam", "ExifTool")
        kept = {k: v for k, v in before[sidecar].items() if not k.startswith(ours)}
        assert {k: tags[sidecar].get(k) for k in kept} == kept, sidecar  # theirs all kept
    for tag in ("XMP-dc:Subject", "XMP-lr:HierarchicalSubject"):  # ours, the same in both
        assert as_list(tags[stem][tag])[-2:] == as_list(tags[appended][tag])[-2:]


@pytest.mark.parametrize("raw_first", [True, False])
def test_a_raw_jpeg_pair_under_stem_naming_loses_nothing(tmp_path: Path, raw_first: bool) -> None:
    """Capture One's stem XMP belongs to the RAW; the JPEG gets its own, appended name,
    whichever is written first."""
    raw, jpeg = touch(tmp_path, "IMG_1.CR2"), touch(tmp_path, "IMG_1.JPG")
    order = [(raw, "mountain"), (jpeg, "lake")]
    for image, word in order if raw_first else order[::-1]:
        written = write_sidecars(task(image, word), settings("capture-one"))
        (plan,) = written
        if image == jpeg:
            assert plan.path == tmp_path / "IMG_1.JPG.xmp"
            assert plan.note is not None and "same stem" in plan.note
        else:
            assert plan.path == tmp_path / "IMG_1.xmp" and plan.note is None
    tags = exiftool(tmp_path / "IMG_1.xmp", tmp_path / "IMG_1.JPG.xmp")
    assert as_list(tags[tmp_path / "IMG_1.xmp"]["XMP-dc:Subject"]) == ["mountain"]
    assert as_list(tags[tmp_path / "IMG_1.JPG.xmp"]["XMP-dc:Subject"]) == ["lake"]

    report = Untagged()  # untagging the JPEG leaves the RAW's sidecar alone
    _xmp(jpeg, settings("capture-one"), report)
    assert report.removed == [str(tmp_path / "IMG_1.JPG.xmp")]
    raws = exiftool(tmp_path / "IMG_1.xmp")[tmp_path / "IMG_1.xmp"]
    assert as_list(raws["XMP-dc:Subject"]) == ["mountain"]
    _xmp(raw, settings("capture-one"), report)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_1.CR2", "IMG_1.JPG"]


def test_a_live_photo_pair_under_stem_naming_loses_nothing(tmp_path: Path) -> None:
    movie, still = touch(tmp_path, "IMG_2.MOV"), touch(tmp_path, "IMG_2.HEIC")
    (plan,) = write_sidecars(task(movie, "wave"), settings("capture-one"))
    assert plan.path == tmp_path / "IMG_2.MOV.xmp"
    (plan,) = write_sidecars(task(still, "beach"), settings("capture-one"))
    assert plan.path == tmp_path / "IMG_2.xmp"
    tags = exiftool(tmp_path / "IMG_2.xmp", tmp_path / "IMG_2.MOV.xmp")
    assert as_list(tags[tmp_path / "IMG_2.xmp"]["XMP-dc:Subject"]) == ["beach"]
    assert as_list(tags[tmp_path / "IMG_2.MOV.xmp"]["XMP-dc:Subject"]) == ["wave"]


def test_immich_reads_the_appended_sidecar_with_tags_list(tmp_path: Path) -> None:
    image = touch(tmp_path, "IMG_3.jpg")
    shutil.copy(DATA / "lightroom.xmp", tmp_path / "IMG_3.xmp")  # not Immich's first choice
    (plan,) = write_sidecars(task(image), settings("immich"))
    assert plan.path == tmp_path / "IMG_3.jpg.xmp"
    tags = exiftool(plan.path)[plan.path]
    assert as_list(tags["XMP-digiKam:TagsList"]) == ["Visionati/harbour", "Visionati/sailboat"]
    assert (tmp_path / "IMG_3.xmp").read_bytes() == (DATA / "lightroom.xmp").read_bytes()


def test_no_target_keeps_the_old_naming(tmp_path: Path) -> None:
    image = touch(tmp_path, "IMG_4.CR2")
    shutil.copy(DATA / "lightroom.xmp", tmp_path / "IMG_4.xmp")
    (plan,) = write_sidecars(task(image), SidecarSettings(formats=["xmp"]))
    assert plan.path == tmp_path / "IMG_4.xmp"  # the user's existing sidecar, merged
