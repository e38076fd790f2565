from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from visionati_sync.renditions import formats
from visionati_sync.rules import selection
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


@given(
    st.text(alphabet="~.-_aAjJpPgGeEtTmMrRwW0!qb", max_size=12),
    st.sampled_from(
        [
            ".jpg",
            ".JPG",
            ".part",
            ".tmp",
            ".jpg~",
            ".cr2",
            ".mov",
            "",
            ".swp",
            ".jpg.part",
            ".crdownload",
            ".!qb",
            ".heic",
        ]
    ),
)
def test_a_name_is_judged_as_the_whole_list_of_temporary_names_would(stem: str, ext: str) -> None:
    """accepts_name looks only at ``~*`` of the temporary names (the rescan's hot loop): the
    same answer as the full rule, for any name."""
    name = stem + ext
    full = (
        not name.startswith(".") and formats.selected(name)
        and not selection._TEMPORARY.match(name.lower())
    )  # fmt: skip
    assert Selector().accepts_name(name) == full
