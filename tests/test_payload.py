from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path

import pytest

from visionati_sync.devtools import samples
from visionati_sync.payload import FileProblem, check_file, unique_names, write_body


def test_every_sample_kind_is_recognised(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(samples.jpeg(1))
    (tmp_path / "b.png").write_bytes(samples.png(2))
    assert check_file(str(tmp_path / "a.jpg")).kind == "jpeg"
    assert check_file(str(tmp_path / "b.png")).kind == "png"


@pytest.mark.parametrize(
    ("content", "kind", "reason"),
    [
        (b"", "skipped", "empty"),
        (b"hello, not a photo", "skipped", "not an image"),
    ],
)
def test_files_that_cannot_go_say_why(
    tmp_path: Path, content: bytes, kind: str, reason: str
) -> None:
    path = tmp_path / "x.jpg"
    path.write_bytes(content)
    with pytest.raises(FileProblem, match=reason) as caught:
        check_file(str(path))
    assert caught.value.kind == kind


def test_a_file_over_20_mb_is_skipped_before_upload(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    with path.open("wb") as handle:
        handle.write(samples.jpeg(1))
        handle.truncate(20_000_001)
    with pytest.raises(FileProblem, match="at most 20,000,000 bytes") as caught:
        check_file(str(path))
    assert caught.value.kind == "skipped"


def test_a_vanished_file_is_reported_as_such(tmp_path: Path) -> None:
    with pytest.raises(FileProblem) as caught:
        check_file(str(tmp_path / "gone.jpg"))
    assert caught.value.kind == "vanished"


def test_names_are_unique_within_a_request() -> None:
    assert unique_names(["a/IMG_1.jpg", "b/IMG_1.jpg", "c/img_1.JPG"]) == [
        "IMG_1.jpg",
        "IMG_1~2.jpg",
        "img_1~3.JPG",
    ]


def test_streamed_body_is_the_json_the_api_expects(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(samples.png_of_size(1, 2_000_000))
    small = tmp_path / "small.jpg"
    small.write_bytes(samples.jpeg(2))
    out = io.BytesIO()
    hashes = write_body(
        out, [("big.png", str(big)), ("small.jpg", str(small))], {"feature": ["tags"]}
    )
    body = json.loads(out.getvalue())
    assert body["file_name"] == ["big.png", "small.jpg"]
    assert body["feature"] == ["tags"]
    assert base64.b64decode(body["file"][0]) == big.read_bytes()
    assert base64.b64decode(body["file"][1]) == small.read_bytes()
    assert hashes == [check_file(str(big)).sha256, check_file(str(small)).sha256]


def test_a_fifo_where_a_photo_was_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "IMG_1.jpg"
    os.mkfifo(fifo)  # nobody will ever write to it: a plain open would wait forever
    with pytest.raises(FileProblem, match="a FIFO") as caught:
        check_file(str(fifo))
    assert caught.value.kind == "skipped"


def test_a_link_is_never_followed_to_what_it_names(tmp_path: Path) -> None:
    private = tmp_path / "private.jpg"
    private.write_bytes(samples.jpeg(1))
    (tmp_path / "IMG_1.jpg").symlink_to(private)
    with pytest.raises(FileProblem, match="a symbolic link") as caught:
        check_file(str(tmp_path / "IMG_1.jpg"))
    assert caught.value.kind == "skipped"
