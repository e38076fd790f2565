from __future__ import annotations

import pytest

from visionati_sync.rules.selection import Selector


@pytest.mark.parametrize(
    ("relpath", "accepted"),
    [
        ("IMG_1.jpg", True),
        ("a/b/IMG_1.JPEG", True),
        ("x.png", True),
        ("x.gif", True),
        ("x.webp", True),
        ("x.bmp", True),
        ("x.cr2", True),
        ("IMG_0001.HEIC", True),
        ("scan.tiff", True),
        ("DSC_1.NEF", True),
        ("clip.MOV", True),
        ("clip.mp4", True),
        ("notes.txt", False),
        ("clip.mp4.xmp", False),
        ("song.mp3", False),
        ("IMG_1.jpg.visionati.json", False),
        ("IMG_1.jpg.json", False),
        ("IMG_1.jpg.xmp", False),
        (".hidden.jpg", False),
        (".thumbnails/x.jpg", False),
        ("@eaDir/x.jpg", False),
        ("x.jpg.part", False),
        ("x.jpg.crdownload", False),
        ("x.tmp", False),
        ("~lock.jpg", False),
        ("x.jpg~", False),
        (".x.jpg.AbC123.vs-tmp", False),
    ],
)
def test_default_rules(relpath: str, accepted: bool) -> None:
    assert Selector().accepts(relpath) is accepted


def test_include_and_exclude_globs() -> None:
    selector = Selector(include=("*.jpg",), exclude=("Exports/*", "*_thumb.jpg"))
    assert selector.accepts("2024/IMG_1.jpg")
    assert not selector.accepts("2024/IMG_1.png")  # not included
    assert not selector.accepts("Exports/IMG_1.jpg")  # path glob
    assert not selector.accepts("2024/IMG_1_thumb.jpg")  # name glob
