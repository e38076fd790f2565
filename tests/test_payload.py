from __future__ import annotations

import base64
import io
import json
import os
import re
from pathlib import Path

import pytest

from visionati_sync.devtools import samples
from visionati_sync.pipeline.payload import (
    fold,
    synthetic_names,
    unique_names,
    upload_name,
    write_body,
)
from visionati_sync.renditions import FileProblem, Part, RenditionSettings, hash_file, prepare


def test_every_sample_kind_is_recognised(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(samples.jpeg(1))
    (tmp_path / "b.png").write_bytes(samples.png(2))
    assert hash_file(str(tmp_path / "a.jpg")).format.name == "jpeg"
    assert hash_file(str(tmp_path / "b.png")).format.name == "png"


@pytest.mark.parametrize(
    ("content", "kind", "reason"),
    [
        (b"", "skipped", "empty"),
        (b"hello, not a photo", "skipped", "not an image, RAW or video of a known format"),
        (b"<html><body>", "skipped", "its content starts with b'<html><b'"),
    ],
)
def test_files_that_cannot_go_say_why(
    tmp_path: Path, content: bytes, kind: str, reason: str
) -> None:
    path = tmp_path / "x.jpg"
    path.write_bytes(content)
    with pytest.raises(FileProblem, match=reason) as caught:
        hash_file(str(path))
    assert caught.value.kind == kind


def test_an_image_over_20_mb_goes_as_a_jpeg_within_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "scan.png"
    path.write_bytes(samples.png_of_size(1, 21_000_000))
    assert path.stat().st_size > 20_000_000
    prepared = prepare(str(path), RenditionSettings())
    (part,) = prepared.parts
    assert part.data is not None and part.data[:3] == b"\xff\xd8\xff"
    assert prepared.bytes_sent < 20_000_000
    assert (
        prepared.sent["from"] == "converted"
        and max(prepared.sent["width"], prepared.sent["height"]) == 2048
    )
    assert prepared.file_sha256 == hash_file(str(path)).sha256 != prepared.content_key


def test_a_large_jpeg_cut_short_is_skipped_with_the_reason(tmp_path: Path) -> None:
    import pyvips

    whole = pyvips.Image.gaussnoise(3000, 2000).cast("uchar").jpegsave_buffer()
    path = tmp_path / "IMG_1.jpg"
    path.write_bytes(whole[: len(whole) // 2])  # a copy that stopped half way
    with pytest.raises(FileProblem, match=r"not a readable JPEG.*premature end") as caught:
        prepare(str(path), RenditionSettings())
    assert caught.value.kind == "skipped"


def test_a_vanished_file_is_reported_as_such(tmp_path: Path) -> None:
    with pytest.raises(FileProblem) as caught:
        hash_file(str(tmp_path / "gone.jpg"))
    assert caught.value.kind == "vanished"


def test_real_names_are_unique_within_a_request_even_once_rewritten() -> None:
    assert unique_names(["IMG_1.jpg", "IMG_1.jpg", "img_1.JPG"]) == [
        "IMG_1.jpg",
        "IMG_1-2.jpg",
        "img_1-3.JPG",
    ]
    # an API that turns "a b" into "a_b" would answer two files by one name
    assert unique_names(["a b.jpg", "a_b.jpg", "a&b.jpg"]) == ["a b.jpg", "a_b-2.jpg", "a&b-3.jpg"]
    assert len({fold(name) for name in unique_names(["日本.jpg", "写真.jpg", "café.jpg"])}) == 3


def test_synthetic_names_say_nothing_and_survive_a_rewriting() -> None:
    names = synthetic_names(["jpg", "JPG", "heic", "tar.gz", ""])
    assert len(set(names)) == 5
    assert all(re.fullmatch(r"v[0-9a-f]{6}[0-9]+\.[a-z0-9]+", name) for name in names)
    assert [name.rsplit(".", 1)[1] for name in names] == ["jpg", "jpg", "heic", "targz", "bin"]


def test_streamed_body_is_the_json_the_api_expects(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(samples.png_of_size(1, 2_000_000))
    small = tmp_path / "small.jpg"
    small.write_bytes(samples.jpeg(2))
    out = io.BytesIO()
    made = Part("~f1", ".jpg", str(small), samples.jpeg(3))
    hashes = write_body(
        out,
        [("big.png", Part("", ".png", str(big))), ("small.jpg", Part("", ".jpg", str(small))),
         (upload_name("clip.mp4", made), made)],
        {"feature": ["tags"]},
    )  # fmt: skip
    body = json.loads(out.getvalue())
    assert body["file_name"] == ["big.png", "small.jpg", "clip.mp4~f1.jpg"]
    assert body["feature"] == ["tags"]
    assert base64.b64decode(body["file"][0]) == big.read_bytes()
    assert base64.b64decode(body["file"][1]) == small.read_bytes()
    assert base64.b64decode(body["file"][2]) == samples.jpeg(3)
    assert hashes[:2] == [hash_file(str(big)).sha256, hash_file(str(small)).sha256]


def test_a_fifo_where_a_photo_was_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "IMG_1.jpg"
    os.mkfifo(fifo)  # nobody will ever write to it: a plain open would wait forever
    with pytest.raises(FileProblem, match="a FIFO") as caught:
        hash_file(str(fifo))
    assert caught.value.kind == "skipped"


def test_a_link_is_never_followed_to_what_it_names(tmp_path: Path) -> None:
    private = tmp_path / "private.jpg"
    private.write_bytes(samples.jpeg(1))
    (tmp_path / "IMG_1.jpg").symlink_to(private)
    with pytest.raises(FileProblem, match="a symbolic link") as caught:
        hash_file(str(tmp_path / "IMG_1.jpg"))
    assert caught.value.kind == "skipped"
