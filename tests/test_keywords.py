"""Keywords in the user's words: their vocabulary (a Lightroom keyword export of some three
hundred keywords), their exclusions, synonyms, floors and casing; merged into the sidecars
programs write and read back by exiftool and exiv2; and taken back out by `untag`, leaving
each sidecar as exiftool read it before."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from readers import KEYWORD_TAGS, as_list, exiftool, exiv2_loads
from visionati_sync.rules import vocabulary
from visionati_sync.rules.keywording import KeywordRules, choose, proposals
from visionati_sync.rules.vocabulary import VocabularyError
from visionati_sync.sidecars.xmp import XmpResult, XmpSettings, merge, unmerge

DATA = Path(__file__).parent / "data"
KEYWORD_LIST = DATA / "keywords" / "lightroom-keywords.txt"
SHAPES = sorted(p.name for p in (DATA / "xmp").glob("*.xmp"))
WHEN = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def asset(**scores: float) -> dict[str, Any]:
    """An API asset whose tags have these scores (two backends, as the API answers)."""
    return {
        "tags": {
            word.replace("_", " "): [
                {"name": word, "score": score, "source": "clarifai"},
                {"name": word, "score": score - 0.05, "source": "googlevision"},
            ]
            for word, score in scores.items()
        }
    }


# -- the vocabulary ----------------------------------------------------------------------


def test_a_lightroom_keyword_export_is_read_with_its_paths_synonyms_and_categories() -> None:
    words = vocabulary.load(KEYWORD_LIST)
    assert words.keywords == 299  # 302 lines of keywords, three of them [categories]
    assert words.match("dog") == ("Animals", "Mammals", "Dog")
    assert words.match("CANINE") == ("Animals", "Mammals", "Dog")  # a synonym, any case
    assert words.match("munich") == ("Places", "Europe", "Germany", "München")
    assert words.match("Zurich") == ("Places", "Europe", "Switzerland", "Zürich")
    assert words.match("beach") == ("Nature", "Water", "Seaside")
    assert words.match("Müller & Söhne GmbH") == ("Workflow", "Clients", "Müller & Söhne GmbH")
    assert words.match("places") is None  # a [category] is not a keyword
    assert words.match("zebra") is None


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("Animals|Mammals|Dog\nAnimals|Mammals|Cat\n", ("Animals", "Mammals", "Dog")),
        ("Animals/Mammals/Dog\r\nAnimals/Mammals/Cat\r\n", ("Animals", "Mammals", "Dog")),
        ("\ufeff# my tags\nDog\nCat\n", ("Dog",)),
        ("Animals\n\tMammals\n\t\tDog\n\t\t\t{Canine}\n", ("Animals", "Mammals", "Dog")),
    ],
)
def test_path_lists_and_plain_lists_are_read_too(text: str, path: tuple[str, ...]) -> None:
    words = vocabulary.parse(text.removeprefix("\ufeff"))
    assert words.match("dog") == path


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{Canine}\nDog\n", "line 1: a synonym {Canine} with no keyword"),
        ("Animals\n\t\t\tDog\n", "line 2: 'Dog' is indented deeper"),
        ("Animals||Dog\n", "line 1: an empty level"),
    ],
)
def test_a_broken_vocabulary_says_where(text: str, problem: str) -> None:
    with pytest.raises(VocabularyError, match=problem):
        vocabulary.parse(text, "keywords.txt")


def test_a_vocabulary_that_is_not_utf8_says_so(tmp_path: Path) -> None:
    path = tmp_path / "keywords.txt"
    path.write_bytes("Stra\u00dfe\n".encode("latin-1"))
    with pytest.raises(VocabularyError, match="not UTF-8"):
        vocabulary.load(path)


# -- the rules ---------------------------------------------------------------------------

SCORES = asset(dog=0.97, person=0.96, beach=0.95, zebra=0.94, car=0.93, indoors=0.92,
               landscape=0.91, bicycle=0.9, no_person=0.89)  # fmt: skip


def test_without_rules_every_tag_goes_under_the_root_best_first() -> None:
    chosen = choose(SCORES, KeywordRules())
    assert chosen[:3] == (("Visionati", "dog"), ("Visionati", "person"), ("Visionati", "beach"))
    assert len(chosen) == 9


def test_the_user_s_vocabulary_exclusions_and_synonyms_decide() -> None:
    rules = KeywordRules(
        exclude=("person", "INDOOR*", "*scape", "no person"),
        rename={"bicycle": "bike", "zebra": "Zebra crossing"},
        vocabulary=vocabulary.load(KEYWORD_LIST),
    )
    assert choose(SCORES, rules) == (
        ("Animals", "Mammals", "Dog"),
        ("Nature", "Water", "Seaside"),
        ("Visionati", "Zebra crossing"),  # renamed, and not in the vocabulary
        ("Transport", "Road", "Automobile"),
        ("Transport", "Road", "Bike"),
    )
    dropped = choose(SCORES, KeywordRules(vocabulary=rules.vocabulary, unmatched="drop"))
    assert ("Visionati", "zebra") not in dropped and len(dropped) == 5  # no person, bicycle
    top = choose(SCORES, KeywordRules(vocabulary=rules.vocabulary, unmatched="keep"))
    assert ("zebra",) in top


def test_proposals_say_what_the_review_page_shows_of_each_keyword() -> None:
    rules = KeywordRules(
        rename={"bicycle": "bike"}, vocabulary=vocabulary.load(KEYWORD_LIST), marker="tagged"
    )
    found = {p.path[-1]: p for p in proposals(SCORES, rules)}
    assert found["Dog"].known and found["Dog"].label == "dog" and found["Dog"].score > 0.9
    assert not found["zebra"].known and found["zebra"].path == ("Visionati", "zebra")
    assert found["Bike"].label == "bicycle"  # renamed: the API's word still names its sources
    assert found["tagged"].score is None and found["tagged"].key == "tagged"
    assert tuple(p.path for p in proposals(SCORES, rules)) == choose(SCORES, rules)


def test_floors_maximum_case_and_the_marker() -> None:
    rules = KeywordRules(min_score=0.93, min_scores={"person": 0.99}, case="capitalised",
                         root="", max=3, marker="auto-tagged")  # fmt: skip
    assert choose(SCORES, rules) == (("Dog",), ("Beach",), ("Zebra",), ("auto-tagged",))
    lower = choose(asset(Golden_Retriever=0.95), KeywordRules(case="lower", root=""))
    assert lower == (("golden retriever",),)


# -- into the user's sidecars, and back out ----------------------------------------------


def rules() -> KeywordRules:
    return KeywordRules(
        exclude=("person", "indoor*", "*scape"),
        rename={"bicycle": "bike"},
        vocabulary=vocabulary.load(KEYWORD_LIST),
        marker="auto-tagged",
    )


def result(tags: dict[str, Any], request: str = "req-1") -> XmpResult:
    return XmpResult("IMG_1.jpg", request, WHEN, choose(tags, rules()), "A dog on a beach.")


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def xmp_dump(path: Path) -> dict[str, Any]:
    """What exiftool reads of a sidecar, without what describes the file on disk."""
    tags = exiftool(path)[path]
    return {k: v for k, v in tags.items() if k != "SourceFile" and not k.startswith("System:")}


@pytest.mark.parametrize("shape", SHAPES)
def test_the_user_s_words_and_paths_reach_every_keyword_list(tmp_path: Path, shape: str) -> None:
    original = (DATA / "xmp" / shape).read_bytes()
    merged = write(tmp_path, "merged.xmp", merge(original, result(SCORES), XmpSettings()))
    exiv2_loads(merged)
    tags = exiftool(merged)[merged]
    subject = as_list(tags["XMP-dc:Subject"])
    assert {"Dog", "Seaside", "Automobile", "Bike", "zebra", "auto-tagged"} <= set(subject)
    hierarchical = as_list(tags["XMP-lr:HierarchicalSubject"])
    assert {"Animals|Mammals|Dog", "Nature|Water|Seaside", "Transport|Road|Bike",
            "Visionati|zebra", "auto-tagged"} <= set(hierarchical)  # fmt: skip
    tags_list = as_list(tags["XMP-digiKam:TagsList"])
    assert {"Animals/Mammals/Dog", "Transport/Road/Automobile", "Visionati/zebra"} <= set(tags_list)
    unwanted = {"person", "indoors", "landscape", "bicycle", "car", "beach", "dog"}
    for tag in KEYWORD_TAGS:
        for value in as_list(tags.get(tag)):
            leaf = value.replace("|", "/").rsplit("/", 1)[-1]
            assert leaf not in unwanted, (shape, tag, value)  # excluded, renamed, matched


@pytest.mark.parametrize("shape", SHAPES)
def test_untag_gives_back_the_sidecar_exiftool_read_before(tmp_path: Path, shape: str) -> None:
    original = (DATA / "xmp" / shape).read_bytes()
    first = merge(original, result(SCORES), XmpSettings())
    later = merge(first, result(asset(cat=0.99, snow=0.95), "req-2"), XmpSettings())
    assert later != first  # a re-tag replaced ours
    taken_back = unmerge(later)
    assert taken_back is not None
    before = xmp_dump(write(tmp_path, "before.xmp", original))
    after = xmp_dump(write(tmp_path, "after.xmp", taken_back))
    assert after == before
    assert unmerge(taken_back) == taken_back  # a second untag changes nothing


def test_untag_keeps_what_the_user_added_since(tmp_path: Path) -> None:
    original = (DATA / "xmp" / "darktable.xmp").read_bytes()
    ours = merge(original, result(SCORES), XmpSettings()).decode()
    edited = ours.replace("<rdf:li>Dog</rdf:li>", "<rdf:li>Dog</rdf:li><rdf:li>Bello</rdf:li>", 1)
    assert edited != ours  # the user tagged the dog by name in their photo manager
    taken_back = unmerge(edited.encode())
    assert taken_back is not None
    tags = exiftool(write(tmp_path, "after.xmp", taken_back))[tmp_path / "after.xmp"]
    assert "Bello" in as_list(tags["XMP-dc:Subject"])
    assert "Dog" not in as_list(tags["XMP-dc:Subject"])


def test_a_sidecar_of_ours_alone_goes_and_one_the_user_wrote_in_stays() -> None:
    fresh = merge(None, result(SCORES), XmpSettings())
    assert unmerge(fresh) is None
    rated = fresh.replace(b'rdf:about=""', b'rdf:about="" xmp:Rating="4" '
                          b'xmlns:xmp="http://ns.adobe.com/xap/1.0/"', 1)  # fmt: skip
    kept = unmerge(rated)
    assert kept is not None and b'xmp:Rating="4"' in kept
    assert b"Dog" not in kept and b"vsync:" not in kept.split(b"xmlns:vsync")[0]


OLDER = b"""<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="visionati-sync 0.9">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/" xmlns:vsync="urn:visionati-sync:xmp:1.0:">
   <dc:subject><rdf:Bag><rdf:li>family</rdf:li><rdf:li>dog</rdf:li></rdf:Bag></dc:subject>
   <lr:hierarchicalSubject><rdf:Bag><rdf:li>family</rdf:li><rdf:li>Tags|dog</rdf:li>
   </rdf:Bag></lr:hierarchicalSubject>
   <vsync:Keywords><rdf:Bag><rdf:li>dog</rdf:li></rdf:Bag></vsync:Keywords>
   <vsync:HierarchyRoot>Tags</vsync:HierarchyRoot>
   <vsync:RequestID>old</vsync:RequestID>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
"""


def test_sidecars_written_before_keyword_paths_are_retagged_and_untagged(tmp_path: Path) -> None:
    """Their record holds the leaves and the root they went under: enough for both."""
    retagged = merge(OLDER, result(asset(cat=0.99)), XmpSettings())
    path = write(tmp_path, "retagged.xmp", retagged)
    tags = exiftool(path)[path]
    assert as_list(tags["XMP-dc:Subject"]) == ["family", "Cat", "auto-tagged"]
    assert as_list(tags["XMP-lr:HierarchicalSubject"]) == [
        "family", "Animals|Mammals|Cat", "auto-tagged"
    ]  # fmt: skip
    assert "XMP-vsync:HierarchyRoot" not in tags
    taken_back = unmerge(OLDER)
    assert taken_back is not None
    path = write(tmp_path, "untagged.xmp", taken_back)
    tags = exiftool(path)[path]
    assert as_list(tags["XMP-dc:Subject"]) == ["family"]
    assert as_list(tags["XMP-lr:HierarchicalSubject"]) == ["family"]
    assert not [tag for tag in tags if tag.startswith("XMP-vsync:")]


def test_a_flat_keyword_the_user_s_own_path_implies_stays_through_untag_and_retag(
    tmp_path: Path,
) -> None:
    """We tagged ``dog``; the user then filed the photo under ``Pets|dog`` (Lightroom keeps
    the leaf in dc:subject too, where ours already was). Taking ours back, or tagging again,
    must leave the user's ``dog`` where their path implies it."""
    keywords = KeywordRules(root="Visionati")
    ours = XmpResult("IMG_1.jpg", "req-1", WHEN, tuple(choose(asset(dog=0.99), keywords)))
    assert ours.keywords == (("Visionati", "dog"),)
    first = merge(None, ours, XmpSettings()).decode()
    users = first.replace(  # the first of each: the lists, not our record
        "<rdf:li>Visionati|dog</rdf:li>",
        "<rdf:li>Visionati|dog</rdf:li><rdf:li>Pets|dog</rdf:li>",
        1,
    ).replace(
        "<rdf:li>Visionati/dog</rdf:li>",
        "<rdf:li>Visionati/dog</rdf:li><rdf:li>Pets/dog</rdf:li>",
        1,
    )
    assert users.count("Pets") == 2  # the user's path, in each hierarchical list

    def read(content: bytes, name: str) -> dict[str, list[str]]:
        path = write(tmp_path, name, content)
        tags = exiftool(path)[path]
        return {tag: as_list(tags.get(tag)) for tag in KEYWORD_TAGS if tags.get(tag)}

    taken_back = unmerge(users.encode())
    assert taken_back is not None
    assert read(taken_back, "untagged.xmp") == {
        "XMP-dc:Subject": ["dog"],
        "XMP-lr:HierarchicalSubject": ["Pets|dog"],
        "XMP-digiKam:TagsList": ["Pets/dog"],
    }
    again = merge(users.encode(), replace(ours, request_id="req-2"), XmpSettings())
    assert read(again, "retagged.xmp")["XMP-dc:Subject"] == ["dog"]
