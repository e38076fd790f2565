"""Generated names and sidecar states (hypothesis): whatever bytes name a photo and whatever
stands at its sidecar's name, the daemon's parts keep the name exactly, never crash, and
either write a sidecar that is ours or refuse with the file and the reason, changing
nothing."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from visionati_sync.config import SidecarSettings
from visionati_sync.devtools import samples
from visionati_sync.jobtable import JobTable
from visionati_sync.records import FileSeen, WriteTask, shown
from visionati_sync.sidecars import SidecarError, preflight, write_sidecars

ASSET = {
    "name": "x",
    "tags": {"dog": [{"score": 0.97}], "beach": [{"score": 0.91}]},
    "descriptions": [{"description": "A dog on a beach.", "source": "openai"}],
}
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# a file name as a filesystem holds it: any bytes but "/" and NUL, not "." or ".."
names = (
    st.binary(min_size=1, max_size=120)
    .map(lambda raw: raw.replace(b"/", b"_").replace(b"\0", b"_"))
    .filter(lambda raw: raw not in (b".", b"..") and not raw.startswith(b"."))
)


def task(image: Path) -> WriteTask:
    stat = image.stat()
    return WriteTask(
        1, str(image.parent), image.name, stat.st_size, stat.st_mtime_ns, "ab" * 32, "req-1",
        datetime(2026, 11, 27, tzinfo=UTC), {"features": ["tags"]}, ASSET,
    )  # fmt: skip


@FUZZ
@given(raw=names)
def test_any_name_is_shown_safely_and_kept_exactly(raw: bytes) -> None:
    name = os.fsdecode(raw)
    text = shown(name)
    text.encode("utf-8")  # always printable, storable, sendable
    assert not any(ord(c) < 0x20 or 0xD800 <= ord(c) <= 0xDFFF for c in text)
    if raw.isascii() and raw.decode().isprintable():
        assert text == name  # an ordinary name is shown as it is
    with tempfile.TemporaryDirectory() as tmp:
        table = JobTable.open(f"sqlite:///{tmp}/jobs.db")
        assert table.queue.enqueue("/photos", [FileSeen(name, 1, 2)])["new"] == 1
        assert table.queue.changed("/photos", "", [FileSeen(name, 1, 2)]) == []  # kept exactly
        (row,) = table.reports.jobs()
        assert row.path == "/photos/" + text
        table.close()


@FUZZ
@given(raw=names)
def test_any_photo_name_gets_sidecars_beside_it_or_a_reason(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        image = folder / os.fsdecode(raw + b".jpg")
        image.write_bytes(samples.jpeg(1))
        sidecars = SidecarSettings()
        try:
            preflight(image, sidecars)
        except SidecarError as exc:
            assert "the sidecar's name is" in str(exc)  # the only reason here: too long
            assert len(raw) + len(b".jpg.visionati.json") > 255
            return
        written = write_sidecars(task(image), sidecars)
        names_written = sorted(os.fsencode(p.path.name) for p in written)
        assert names_written == sorted([raw + b".jpg.visionati.json", raw + b".jpg.xmp"])
        document = json.loads((folder / os.fsdecode(raw + b".jpg.visionati.json")).read_bytes())
        assert document["file"] == shown(image.name)
        xmp = etree.fromstring((folder / os.fsdecode(raw + b".jpg.xmp")).read_bytes())
        files = xmp.findall(".//{urn:visionati-sync:xmp:1.0:}File")
        assert [f.text for f in files] == [shown(image.name)]
        assert (
            sorted(os.listdir(folder))
            == sorted(
                [raw + b".jpg", raw + b".jpg.visionati.json", raw + b".jpg.xmp"],
                key=os.fsdecode,
            )
            or len(os.listdir(folder)) == 3
        )


STATES = ["absent", "ours", "user's", "garbage", "link to a file", "dangling link",
          "directory", "fifo", "empty file"]  # fmt: skip
NOT_OURS = {"link to a file", "dangling link", "directory", "fifo"}  # never replaced
UNREADABLE = {"garbage", "empty file"}  # an XMP sidecar that does not parse: never merged
USERS = (Path(__file__).parent / "data" / "xmp" / "darktable.xmp").read_bytes()


def make(path: Path, state: str, outside: Path) -> None:
    if state == "ours":
        path.write_bytes(b"")  # replaced below by a sidecar we wrote
    elif state == "user's":
        path.write_bytes(USERS)
    elif state == "garbage":
        path.write_bytes(b"\x00\xff<x:xmpmeta><rdf:RDF>half")
    elif state == "link to a file":
        outside.write_bytes(USERS.replace(b"</rdf:RDF>", b"<!-- private --></rdf:RDF>"))
        path.symlink_to(outside)
    elif state == "dangling link":
        path.symlink_to(outside.with_name("nowhere.xmp"))
    elif state == "directory":
        path.mkdir()
    elif state == "fifo":
        os.mkfifo(path)
    elif state == "empty file":
        path.write_bytes(b"")


def snapshot(folder: Path) -> dict[str, object]:
    seen: dict[str, object] = {}
    for entry in sorted(os.listdir(folder)):
        path = folder / entry
        if path.is_symlink():
            seen[entry] = ("link", os.readlink(path))
        elif path.is_file():
            seen[entry] = path.read_bytes()
        else:
            seen[entry] = "special" if not path.is_dir() else "dir"
    return seen


@FUZZ
@given(xmp_state=st.sampled_from(STATES), json_state=st.sampled_from(STATES),
       naming=st.sampled_from(["append", "replace"]))  # fmt: skip
def test_whatever_stands_at_a_sidecar_s_name_is_merged_into_or_left_alone(
    xmp_state: str, json_state: str, naming: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder, outside = Path(tmp) / "photos", Path(tmp) / "private.xmp"
        folder.mkdir()
        image = folder / "IMG_1.jpg"
        image.write_bytes(samples.jpeg(1))
        settings_ = SidecarSettings(xmp_naming=naming)  # type: ignore[arg-type]
        xmp_path = folder / ("IMG_1.jpg.xmp" if naming == "append" else "IMG_1.xmp")
        make(xmp_path, xmp_state, outside)
        make(folder / "IMG_1.jpg.visionati.json", json_state, outside)
        if xmp_state == "ours":
            xmp_path.unlink()
            write_sidecars(task(image), SidecarSettings(formats=["xmp"], xmp_naming=naming))  # type: ignore[arg-type]
        private = outside.read_bytes() if outside.exists() else None
        before = snapshot(folder)
        refused = xmp_state in NOT_OURS | UNREADABLE or json_state in NOT_OURS
        try:
            preflight(image, settings_)
            plans = write_sidecars(task(image), settings_)
        except SidecarError as exc:
            assert refused, exc
            assert str(folder) in str(exc)  # names the file
            assert snapshot(folder) == before  # changes nothing
        else:
            assert not refused, (xmp_state, json_state)
            for plan in plans:
                assert plan.path.is_file() and not plan.path.is_symlink()
            merged = xmp_path.read_bytes()
            assert b"urn:visionati-sync:xmp:1.0:" in merged
            if xmp_state == "user's":
                assert b"darktable:history" in merged  # the user's kept
            assert not list(folder.glob(".*vs-tmp"))
        assert (outside.read_bytes() if outside.exists() else None) == private
