"""Every format a library holds: told by content, converted to what the API takes, priced
exactly, and bad files skipped with their reason. Real samples from other projects' test
suites are read in place (copied only into each test's own temporary library)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

import media
from media import needs_samples
from readers import as_list, exiftool
from support import EmulatorControl, Library, wait_until
from visionati_sync.renditions import (
    FileProblem,
    RenditionSettings,
    formats,
    plan_file,
    prepare,
    unreadable,
)
from visionati_sync.renditions.heif import heif_problem

SENDABLE = {"jpeg", "png", "gif", "webp", "bmp", "mp4", "mov", "avi", "mkv", "webm"}
# samples no decoder can make anything of: stripped RAWs, a cut-off HEIC, a fuzzing case
UNREADABLE = {
    "exiftool/CanonRaw.cr2": "no preview and no image data",
    "exiftool/CanonRaw.cr3": "no preview and no image data",
    "exiftool/Nikon.nef": "no preview and no image data",
    "exiftool/QuickTime.heic": "not a readable HEIF",
    "exiv2/issue_857_poc.raf": "not an image, RAW or video of a known format",
    "cut-off.heic": "its image data is cut short",  # libheif would paint the rest green
}


@needs_samples
def test_formats_are_told_by_content_not_by_name() -> None:
    found = {
        f"{p.parent.name}/{p.name}": formats.sniff(p.read_bytes()[: formats.HEAD_BYTES], p.name)
        for p in media.samples()
    }
    names = {path: f.name if f else None for path, f in found.items()}
    assert names["photoprism/wrong.heic"] == "jpeg"  # a phone's JPEG named .heic
    assert names["photoprism/iphone_7.heic"] == "heif"
    assert names["exiv2/avif.avif"] == names["photoprism/fox.profile0.8bpc.yuv420.avif"] == "avif"
    assert names["exiv2/Reagan.tiff"] == names["photoprism/example.tif"] == "tiff"
    assert names["exiv2/Reagan.jxl"] == "jxl"
    assert names["photoprism/quicktime-jpeg.mov"] == "mov"  # no ftyp box: QuickTime's own
    assert names["photoprism/earth.avi"] == "avi"
    raws = [p for p in found if formats.extension(p) in formats.RAW_EXTENSIONS]
    assert len(raws) == 10 and all(names[p] == "raw" for p in raws if "poc" not in p)
    assert names["exiv2/issue_857_poc.raf"] is None  # "FUJIFILM" and then nothing a RAF has
    assert formats.sniff(b"II*\x00" + bytes(60), "scan.tif") == formats.Format(
        "tiff", formats.Kind.IMAGE
    )
    assert formats.sniff(b"%PDF-1.7\n", "x.jpg") is None


def test_an_exif_rotated_photo_goes_upright(tmp_path: Path) -> None:
    photo = media.exif(media.jpeg(tmp_path / "IMG_1.jpg", 64, 32), "Orientation#=6")
    prepared = prepare(str(photo), RenditionSettings())
    assert prepared.sent["from"] == "converted"  # a sideways original would be seen sideways
    assert (prepared.sent["width"], prepared.sent["height"]) == (32, 64)
    import pyvips

    (part,) = prepared.parts
    assert part.data is not None
    sent = pyvips.Image.new_from_buffer(part.data, "")
    top, bottom = sent(16, 4), sent(16, 60)
    assert top[0] > 150 > top[2] and bottom[2] > 150 > bottom[0]  # the left half is on top now
    assert "exif-data" not in sent.get_fields()  # no metadata leaves the machine by default
    kept = prepare(str(photo), RenditionSettings(keep_metadata=True)).parts[0].data
    assert kept is not None and "exif-data" in pyvips.Image.new_from_buffer(kept, "").get_fields()


@needs_samples
@pytest.mark.parametrize("name", ["iphone_7.heic", "iphone_15_pro.heic", "2021-02-13-1929.heic"])
def test_iphone_photos_taken_upright_go_upright(name: str) -> None:
    """Portrait photos stored sideways: rotated by the file's own irot box (libheif) or,
    where it has none (an iPhone 7's), by its EXIF orientation; never both."""
    prepared = prepare(str(media.sample(name)), RenditionSettings())
    assert (prepared.sent["width"], prepared.sent["height"]) == (1536, 2048)


@pytest.mark.parametrize("profile", ["cmyk", "p3"])
def test_colour_in_another_space_arrives_as_srgb(tmp_path: Path, profile: str) -> None:
    """A print shop's CMYK JPEG or a P3 one: sent as the red it is, in sRGB, 3 bands."""
    import pyvips

    red = pyvips.Image.black(400, 300).new_from_image([220, 20, 20]).copy(interpretation="srgb")
    path = tmp_path / f"{profile}.jpg"
    red.icc_transform(profile, input_profile="srgb").jpegsave(str(path), Q=95)
    assert "icc-profile-data" in pyvips.Image.new_from_file(str(path)).get_fields()
    (part,) = prepare(str(path), RenditionSettings(max_edge=256)).parts
    assert part.data is not None
    sent = pyvips.Image.new_from_buffer(part.data, "")
    assert (sent.bands, sent.interpretation) == (3, "srgb")
    r, g, b = sent(100, 100)
    assert r > 190 and g < 60 and b < 60, (r, g, b)


def test_large_and_foreign_images_go_as_jpegs_within_max_edge(tmp_path: Path) -> None:
    settings = RenditionSettings(max_edge=1024)
    big = prepare(str(media.jpeg(tmp_path / "big.jpg", 6000, 4000)), settings)
    assert (big.sent["from"], big.sent["width"], big.sent["height"]) == ("converted", 1024, 683)
    small = prepare(str(media.jpeg(tmp_path / "small.jpg", 800, 600)), settings)
    assert small.sent["from"] == "original" and small.parts[0].data is None
    assert small.content_key == small.file_sha256  # results stored before still serve
    heic = prepare(str(media.heic(tmp_path / "IMG_2.heic", 2000, 1500)), settings)
    assert (heic.sent["format"], heic.sent["width"]) == ("jpeg", 1024)
    pages = prepare(str(media.tiff(tmp_path / "scan.tif", 300, 200, pages=3)), settings)
    assert (pages.sent["width"], pages.sent["height"]) == (300, 200)  # the first page
    # the same bytes rendered with other settings are another result
    assert prepare(str(tmp_path / "big.jpg"), RenditionSettings()).content_key != big.content_key


def test_bad_files_are_skipped_with_their_reason_and_leave_nothing_behind(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    media.tiff_bomb(folder / "bomb.tif")
    liar = folder / "clip.mp4"
    liar.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(5000))
    whole = media.heic(tmp_path / "whole.heic", 1200, 900).read_bytes()
    cut = folder / "IMG_3.heic"
    cut.write_bytes(whole[: len(whole) // 3])
    before = {p: p.read_bytes() for p in folder.iterdir()}
    reasons = {}
    for path in before:
        with pytest.raises(FileProblem) as caught:
            prepare(str(path), RenditionSettings())
        assert caught.value.kind == "skipped"
        reasons[path.name] = caught.value.reason
    assert "400 MP" in reasons["bomb.tif"] and "not decoded" in reasons["bomb.tif"]
    assert "cannot tell the video's length" in reasons["clip.mp4"]
    assert "not a readable HEIF" in reasons["IMG_3.heic"]
    assert {p: p.read_bytes() for p in folder.iterdir()} == before  # nothing changed or added


@needs_samples
def test_a_raw_waits_for_its_jpeg_to_be_whole_then_shares_its_result(tmp_path: Path) -> None:
    raw = tmp_path / "IMG_0007.dng"
    shutil.copyfile(media.sample("canon_eos_6d.dng"), raw)
    settings = RenditionSettings(settle_seconds=30)
    with pytest.raises(FileProblem, match="waiting a moment for a JPEG") as caught:
        prepare(str(raw), settings)  # a new RAW alone: its JPEG may be on its way
    assert caught.value.kind == "changed" and 0 < (caught.value.retry_in or 0) <= 10
    jpeg = media.jpeg(tmp_path / "IMG_0007.jpg", 1224, 816)  # just copied in
    with pytest.raises(FileProblem, match=r"waiting for IMG_0007\.jpg") as caught:
        prepare(str(raw), settings)
    assert caught.value.kind == "changed"  # put back, to be taken again after a settle
    os.utime(jpeg, (time.time() - 60, time.time() - 60))
    paired, alone = prepare(str(raw), settings), prepare(str(jpeg), settings)
    assert paired.content_key == alone.content_key and paired.parts == alone.parts
    assert (paired.sent["from"], paired.file_sha256) == ("pair", media.sha256(raw))
    separate = prepare(str(raw), RenditionSettings(pairs="separate"))
    assert separate.sent["from"] == "embedded-preview" and separate.content_key != alone.content_key


def test_a_video_needing_a_missing_tool_is_skipped_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = media.video(tmp_path / "clip.mp4", 2)
    tools = tmp_path / "bin"
    tools.mkdir()
    monkeypatch.setenv("PATH", str(tools))  # a machine without ffmpeg's package
    with pytest.raises(FileProblem) as caught:
        prepare(str(clip), RenditionSettings())
    assert caught.value.kind == "skipped"
    assert "ffprobe: not installed (Debian package ffmpeg)" in caught.value.reason


def test_a_camcorder_s_transport_stream_goes_as_its_frames(tmp_path: Path) -> None:
    """The API lists mp4, webm, mov, mkv and avi; an .mts (MPEG-TS) is sent as frames."""
    clip = media.video(tmp_path / "00001.MTS", 2)
    prepared = prepare(str(clip), RenditionSettings())
    assert prepared.format.name == "mts"
    assert prepared.sent["from"] == "frames" and prepared.images == len(prepared.parts) == 2
    assert all(p.data is not None and p.data[:3] == b"\xff\xd8\xff" for p in prepared.parts)


def sent_files(control: EmulatorControl) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, file)
        for entry in control.uploads()
        for name, file in zip(entry["file_names"], entry["files"], strict=True)
    ]


@pytest.mark.slow
@needs_samples
def test_a_scan_of_the_real_samples_tags_every_readable_file(
    library: Library, control: EmulatorControl
) -> None:
    copies = media.copy_samples(library.photos)
    cut = library.photos / "cut-off.heic"  # an iPhone photo copied half-way: the tiles of
    cut.write_bytes(media.sample("iphone_7.heic").read_bytes()[:400_000])  # its bottom gone
    copies["cut-off.heic"] = cut
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in copies.values()}
    library.configure(upload={"max_edge": 1024})  # smaller than some originals here
    estimated = library.json("estimate")  # before anything is known: from the files alone
    result = library.cli("scan", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sum(entry["credits"] for entry in control.uploads()) == estimated["credits"]
    assert estimated["skipped"] == len(UNREADABLE)
    jobs = library.jobs()
    for original, copy in copies.items():
        job = jobs[copy.name]
        if original in UNREADABLE:
            assert job["state"] == "skipped", (original, job)
            assert UNREADABLE[original] in job["error"], (original, job["error"])
            continue
        assert job["state"] == "done", (original, job)
        document = json.loads(copy.with_name(copy.name + ".visionati.json").read_text())
        assert document["sha256"] == before[copy]
        assert document["upload"]["from"] in ("original", "converted", "embedded-preview",
                                              "demosaiced")  # fmt: skip
        sidecar = copy.with_name(copy.name + ".xmp")
        assert as_list(exiftool(sidecar)[sidecar].get("XMP-dc:Subject")), original
    sent = sent_files(control)
    assert len(sent) == len(copies) - len(UNREADABLE)
    for name, file in sent:
        assert file["format"] in SENDABLE, (name, file)
        assert file["bytes"] <= 20_000_000
        if "width" in file:  # an image, and none was sent as it was if it is larger
            assert max(file["width"], file["height"]) <= 1024, (name, file)
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in copies.values()} == before


@pytest.mark.slow
@needs_samples
def test_the_estimate_is_the_charge_for_a_folder_of_every_kind(
    library: Library, control: EmulatorControl
) -> None:
    photos = library.photos
    media.heic(photos / "IMG_0001.HEIC")
    media.tiff(photos / "scan_001.tif", 2400, 1600)
    media.jpeg(photos / "DSC_0002.jpg", 4000, 3000)  # 12 MP: sent at 2048
    shutil.copyfile(media.sample("canon_eos_6d.dng"), photos / "IMG_0003.dng")  # + its JPEG:
    media.jpeg(photos / "IMG_0003.jpg", 1224, 816)  # one photograph, paid once
    shutil.copy2(media.sample("Canon-R6-pruned.CR3"), photos / "IMG_0004.CR3")  # alone, old
    shutil.copyfile(media.sample("Panasonic.rw2"), photos / "P0005.RW2")  # a JPEG of its
    media.exif(media.jpeg(photos / "P0005.jpg", 400, 300), "DateTimeOriginal=2020:01:01 10:00:00")
    media.video(photos / "short.mp4", 1.5)  # under max_frames x 1 s: 2 frames
    media.video(photos / "long.mov", 20)  # frames spread over 20 s: 3
    media.video(photos / "huge.avi", 4.2, raw=True)  # over 20 MB: frames taken here
    assert (photos / "huge.avi").stat().st_size > 20_000_000
    library.configure(  # the real names: this test tells the uploads apart by them
        sidecars={"xmp_naming": "append"}, upload={"send_file_names": True}
    )

    estimated = library.json("estimate")
    assert estimated["paired"] == 1  # IMG_0003.dng; P0005.RW2 was taken at another time
    assert estimated["images"] == 7 + 2 + 3 + 3  # 7 photos; the videos' frames
    result = library.cli("scan", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert library.counts()["done"] == 11
    charged = sum(entry["credits"] for entry in control.uploads())
    assert charged == estimated["credits"] > 0

    def upload(name: str) -> dict[str, Any]:
        return json.loads((photos / f"{name}.visionati.json").read_text())["upload"]  # type: ignore[no-any-return]

    assert (
        upload("IMG_0003.dng")["from"] == "pair"
        and upload("IMG_0003.dng")["pair"] == "IMG_0003.jpg"
    )
    assert upload("IMG_0004.CR3")["from"] == "embedded-preview"
    assert upload("P0005.RW2")["from"] == "demosaiced"
    assert upload("huge.avi")["from"] == "frames" and upload("huge.avi")["frames"] == 3
    assert upload("long.mov")["from"] == "original"
    # sent whole, the API took its frames: the sidecar says how many and how far apart
    assert (upload("long.mov")["frames"], upload("long.mov")["capture_interval"]) == (3, 7)
    huge = json.loads((photos / "huge.avi.visionati.json").read_text())
    assert huge["asset"]["frames"] == 3 and huge["asset"]["tags"]
    sent = sent_files(control)
    assert {f["format"] for _, f in sent} <= SENDABLE
    assert "IMG_0003.dng" not in {n for n, _ in sent}
    (long,) = [e for e in control.uploads() if "long.mov" in e["file_names"]]
    assert (long["fields"]["capture_interval"], long["fields"]["max_frames"]) == (7, 3)
    # the estimate after the scan: everything is done, nothing to pay
    assert library.json("estimate")["credits"] == 0


@pytest.mark.slow
@needs_samples
def test_a_card_imported_into_a_watched_folder_is_tagged_and_each_photograph_paid_once(
    library: Library, control: EmulatorControl
) -> None:
    """The daemon watching: an iPhone HEIC, a clip, and a RAW whose JPEG is copied in a
    little after it (as an import from a card does). The RAW waits for its JPEG, and the
    photograph they are is uploaded once."""
    photos = library.photos
    library.configure(watch={"settle_seconds": 0.5}, upload={"send_file_names": True})
    with library.daemon() as daemon:
        wait_until(lambda: daemon.logged("watching folder", folder=str(photos)), 20)
        shutil.copyfile(media.sample("iphone_7.heic"), photos / "IMG_0100.HEIC")
        shutil.copyfile(media.sample("small_video.mp4"), photos / "MVI_0101.MP4")
        shutil.copyfile(media.sample("canon_eos_6d.dng"), photos / "IMG_0102.DNG")
        time.sleep(1.2)  # the JPEG lands after the RAW has settled: what is being tested
        partial = photos / "IMG_0102.JPG"
        whole = media.jpeg(library.tmp / "whole.jpg", 1224, 816).read_bytes()
        with partial.open("wb") as handle:  # copied in slowly, as from a card
            for start in range(0, len(whole), len(whole) // 4 + 1):
                handle.write(whole[start : start + len(whole) // 4 + 1])
                handle.flush()
                time.sleep(0.3)
        library.wait_for("done", 4, timeout=60)
        assert daemon.stop() == 0
    sent = sent_files(control)
    names = sorted(name for name, _ in sent)
    assert names == ["IMG_0100.HEIC.jpg", "IMG_0102.JPG", "MVI_0101.MP4"], names
    jpeg_hash = hashlib.sha256(whole).hexdigest()
    assert [h for e in control.uploads() for h in e["sha256"]].count(jpeg_hash) == 1
    raw = json.loads((photos / "IMG_0102.DNG.visionati.json").read_text())
    assert raw["upload"]["from"] == "pair" and raw["upload"]["sha256"] == jpeg_hash


@pytest.mark.slow
@needs_samples
def test_a_raw_asked_again_goes_once_as_its_jpeg_and_the_scan_ends(
    library: Library, control: EmulatorControl
) -> None:
    """A RAW sharing its JPEG's result streams the JPEG: the check that the file sent is
    the file prepared once compared the JPEG's bytes with the RAW's hash, so every batch
    with such a RAW was put back as "changed", and `scan --refresh` of the RAW never ended."""
    raw = library.photos / "IMG_0007.dng"
    shutil.copyfile(media.sample("canon_eos_6d.dng"), raw)
    jpeg = media.jpeg(library.photos / "IMG_0007.jpg", 1224, 816)
    old = time.time() - 3600  # a backfill: the pair has been there a while
    for path in (raw, jpeg):
        os.utime(path, (old, old))
    assert library.cli("scan").returncode == 0
    assert len(control.uploads()) == 1  # the photograph, once
    result = library.cli("scan", "--refresh", str(raw), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "a file changed while being read" not in result.stderr
    assert [u["sha256"] for u in control.uploads()[1:]] == [[media.sha256(jpeg)]]


def test_a_heic_cut_short_is_found_from_its_boxes_and_never_sent(tmp_path: Path) -> None:
    """libheif decodes a HEIC whose data was cut off (a copy that stopped half-way),
    painting what is missing: it is refused before it is decoded, and the estimate, which
    decodes nothing, finds it the same way."""
    whole = media.heic(tmp_path / "IMG_0001.HEIC")
    data = whole.read_bytes()
    cut = tmp_path / "IMG_0002.HEIC"
    cut.write_bytes(data[: len(data) * 3 // 4])
    stub = tmp_path / "IMG_0003.HEIC"  # its image data a stub: 18 bytes, as in exiftool's
    start = data.rindex(b"mdat") + 4  # sample; the NAL units in it do not add up
    stub.write_bytes(data[:start] + bytes([0, 0, 0, 99]) + data[start + 4 : start + 18])
    assert heif_problem(str(whole)) is None
    assert "cut short" in (heif_problem(str(cut)) or "")
    assert prepare(str(whole), RenditionSettings()).sent["from"] == "converted"
    for broken in (cut, stub):
        with pytest.raises(FileProblem) as caught:
            prepare(str(broken), RenditionSettings())
        assert caught.value.kind == "skipped" and "not a readable HEIF" in caught.value.reason
        decided = plan_file(str(broken), RenditionSettings())
        assert "not a readable HEIF" in (unreadable(str(broken), decided) or "")
