"""XMP sidecars: what goes in, where, and that nothing of the user's is lost. Every sidecar
written here is read back by exiftool and exiv2."""

from __future__ import annotations

import os
import re
import shutil
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from readers import KEYWORD_TAGS, as_list, exiftool, exiv2_loads
from visionati_sync import __version__
from visionati_sync.sidecars import xmp
from visionati_sync.sidecars.atomic import SidecarError, write_with_retry
from visionati_sync.sidecars.xmp import XmpError, XmpResult, XmpSettings, merge
from visionati_sync.sidecars.xmp.packet import NAMESPACES, PACKET_ID, RDF

DATA = Path(__file__).parent / "data" / "xmp"
SHAPES = sorted(p.name for p in DATA.glob("*.xmp"))
WHEN = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def under(*words: str, root: str = "Visionati") -> tuple[tuple[str, ...], ...]:
    """Keywords the vocabulary does not know, as the daemon writes them: under the root."""
    return tuple((root, word) if root else (word,) for word in words)


RESULT = XmpResult("IMG_1.jpg", "req-1", WHEN, under("dog", "Beach", "sunset"), "A dog on a beach.")
SETTINGS = XmpSettings()


def write_xmp(
    image: Path, result: XmpResult, settings: XmpSettings, naming: str = "append"
) -> tuple[Path, str | None]:
    """One photo's sidecar written as the daemon's writer does: planned, written atomically,
    planned again if a photo manager rewrote it meanwhile."""
    (written,) = write_with_retry(lambda: [xmp.plan(image, result, settings, naming)])
    return written.path, written.note


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_a_new_sidecar_carries_keywords_and_description_for_every_reader(tmp_path: Path) -> None:
    content = merge(None, RESULT, SETTINGS)
    assert content.startswith(b"<?xpacket begin=")
    path = write(tmp_path, "IMG_1.jpg.xmp", content)
    tags = exiftool(path)[path]
    assert as_list(tags["XMP-dc:Subject"]) == ["dog", "Beach", "sunset"]
    assert as_list(tags["XMP-lr:HierarchicalSubject"]) == [
        "Visionati|dog", "Visionati|Beach", "Visionati|sunset",
    ]  # fmt: skip
    assert as_list(tags["XMP-digiKam:TagsList"]) == [
        "Visionati/dog", "Visionati/Beach", "Visionati/sunset",
    ]  # fmt: skip
    assert tags["XMP-dc:Description"] == "A dog on a beach."
    assert tags["XMP-vsync:RequestID"] == "req-1"
    assert "Xmp.dc.subject" in exiv2_loads(path)


def test_an_empty_hierarchy_root_writes_flat_keywords(tmp_path: Path) -> None:
    flat = XmpResult("IMG_1.jpg", "req-1", WHEN, under("dog", "Beach", "sunset", root=""))
    path = write(tmp_path, "a.xmp", merge(None, flat, SETTINGS))
    tags = exiftool(path)[path]
    assert as_list(tags["XMP-lr:HierarchicalSubject"]) == ["dog", "Beach", "sunset"]
    assert as_list(tags["XMP-digiKam:TagsList"]) == ["dog", "Beach", "sunset"]


@pytest.mark.parametrize("shape", SHAPES)
def test_merging_into_each_program_s_sidecar_keeps_all_of_it(tmp_path: Path, shape: str) -> None:
    original_bytes = (DATA / shape).read_bytes()
    original = write(tmp_path, "original.xmp", original_bytes)
    merged = write(tmp_path, "merged.xmp", merge(original_bytes, RESULT, SETTINGS))
    exiv2_loads(merged)
    before, after = exiftool(original)[original], exiftool(merged)[merged]
    for tag, value in before.items():
        if tag in ("SourceFile", "System:FileName") or tag.startswith("System:"):
            continue
        if tag in KEYWORD_TAGS:  # the user's keywords all stay, in their order
            kept = as_list(after[tag])
            assert kept[: len(as_list(value))] == as_list(value), tag
        else:
            assert after.get(tag) == value, f"{shape}: {tag} changed"
    for tag in ("XMP-dc:Subject", "XMP-lr:HierarchicalSubject", "XMP-digiKam:TagsList"):
        leaves = [v.replace("|", "/").rsplit("/", 1)[-1] for v in as_list(after[tag])]
        assert {"family", "Oma", "dog", "Beach", "sunset"} <= set(leaves), (shape, tag)
    for tag in KEYWORD_TAGS:  # properties the user already had are kept in step
        if tag in before:
            assert len(as_list(after[tag])) == len(as_list(before[tag])) + 3, (shape, tag)
    text = merged.read_bytes()
    root_start = re.search(rb"<(?!\?|!--)", original_bytes)
    assert root_start is not None
    assert text.startswith(original_bytes[: root_start.start()])  # prolog byte for byte
    for declaration in re.findall(rb"xmlns:\w+=[\"'][^\"']+[\"']", original_bytes):
        prefix, uri = declaration.split(b"=", 1)
        assert re.search(re.escape(prefix) + b"=[\"']" + re.escape(uri[1:-1]), text), declaration
    for comment in re.findall(rb"<!--.*?-->", original_bytes):
        assert comment in text
    if b"<?xpacket end" in original_bytes:
        assert text.rstrip().endswith(original_bytes.rstrip()[-20:])


def test_the_user_s_description_is_never_replaced(tmp_path: Path) -> None:
    for shape, tag, words in (
        ("digikam.xmp", "XMP-dc:Description", "Oma's 90th birthday, in the garden"),
        ("multi-description.xmp", "XMP-tiff:ImageDescription", "Written by the user in Photoshop"),
    ):
        merged = write(tmp_path, shape, merge((DATA / shape).read_bytes(), RESULT, SETTINGS))
        tags = exiftool(merged)[merged]
        assert tags[tag] == words
        assert "A dog on a beach." not in merged.read_text()
        overwrite = XmpSettings(overwrite_description=True)  # only ever ours
        again = merge((DATA / shape).read_bytes(), RESULT, overwrite)
        assert b"A dog on a beach." not in again


def test_our_own_description_is_replaced_only_when_asked(tmp_path: Path) -> None:
    first = merge(None, RESULT, SETTINGS)
    newer = XmpResult("IMG_1.jpg", "req-2", WHEN, under("dog"), "A newer description.")
    assert b"A dog on a beach." in merge(first, newer, SETTINGS)
    replaced = write(
        tmp_path, "a.xmp", merge(first, newer, XmpSettings(overwrite_description=True))
    )
    assert exiftool(replaced)[replaced]["XMP-dc:Description"] == "A newer description."


def test_retag_replaces_only_our_keywords(tmp_path: Path) -> None:
    user = (DATA / "lightroom.xmp").read_bytes()  # dc:subject: family, Oma
    first = merge(user, RESULT, SETTINGS)
    later = XmpResult("IMG_1.jpg", "req-2", WHEN, under("cat", "Family", "garden"), None)
    path = write(tmp_path, "a.xmp", merge(first, later, SETTINGS))
    tags = exiftool(path)[path]
    assert as_list(tags["XMP-dc:Subject"]) == ["family", "Oma", "cat", "garden"]
    assert as_list(tags["XMP-lr:HierarchicalSubject"]) == [
        "family", "Oma", "Visionati|cat", "Visionati|garden",
    ]  # fmt: skip
    assert as_list(tags["XMP-digiKam:TagsList"]) == [
        "family", "Oma", "Visionati/cat", "Visionati/garden",
    ]  # fmt: skip
    assert as_list(tags["XMP-vsync:Keywords"]) == ["cat", "garden"]
    exiv2_loads(path)


def test_the_same_result_twice_gives_identical_bytes() -> None:
    for shape in SHAPES:
        once = merge((DATA / shape).read_bytes(), RESULT, SETTINGS)
        assert merge(once, RESULT, SETTINGS) == once, shape
    new = merge(None, RESULT, SETTINGS)
    assert merge(new, RESULT, SETTINGS) == new


def test_a_seq_stays_a_seq_and_nothing_is_added_twice(tmp_path: Path) -> None:
    merged = merge((DATA / "multi-description.xmp").read_bytes(), RESULT, SETTINGS)
    text = merged.decode()
    assert text.count("<dc:subject>") == 1
    subject = text[text.index("<dc:subject>") : text.index("</dc:subject>")]
    assert "<rdf:Seq>" in subject and "<rdf:Bag>" not in subject
    exiv2_loads(write(tmp_path, "m.xmp", merged))


def test_compact_attribute_properties_are_understood() -> None:
    compact = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        b'22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements'
        b'/1.1/" dc:subject="family" dc:description="The user\'s words"/></rdf:RDF></x:xmpmeta>'
    )
    merged = merge(compact, RESULT, SETTINGS).decode()
    assert 'dc:subject="' not in merged
    assert merged.index("<rdf:li>family</rdf:li>") < merged.index("<rdf:li>dog</rdf:li>")
    assert 'dc:description="The user\'s words"' in merged


def test_alt_text_role_also_fills_the_accessibility_property(tmp_path: Path) -> None:
    result = XmpResult(
        "IMG_1.jpg", "r", WHEN, under("dog"), "A brown dog lying on sand.", alt_text=True
    )
    path = write(tmp_path, "a.xmp", merge(None, result, SETTINGS))
    tags = exiftool(path)[path]
    assert tags["XMP-iptcCore:AltTextAccessibility"] == "A brown dog lying on sand."


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"<x:xmpmeta><rdf:RDF", "cannot parse XMP"),
        (b"this is not xml", "cannot parse XMP"),
        (b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
         b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&e;</x:xmpmeta>', "DTD"),
        (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;'
         b'&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><x>&c;</x>', "DTD"),
        (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>', "no rdf:RDF"),
    ],
)  # fmt: skip
def test_unsafe_or_broken_sidecars_are_refused_and_left_alone(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    image = tmp_path / "IMG_1.jpg"
    image.write_bytes(b"\xff\xd8\xff")
    sidecar = write(tmp_path, "IMG_1.jpg.xmp", content)
    with pytest.raises(XmpError, match=reason) as caught:
        write_xmp(image, RESULT, SETTINGS)
    assert str(sidecar) in str(caught.value)
    assert sidecar.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_1.jpg", "IMG_1.jpg.xmp"]


def test_an_oversized_sidecar_is_refused() -> None:
    with pytest.raises(XmpError, match="larger than"):
        merge(b" " * (xmp.MAX_BYTES + 1), RESULT, SETTINGS)


# -- which file --------------------------------------------------------------------------


def photo(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_bytes(b"\xff\xd8\xff")
    return path


def test_existing_sidecars_are_found_under_either_name(tmp_path: Path) -> None:
    image = photo(tmp_path, "IMG_1.jpg")
    assert xmp.choose_path(image, "append") == (tmp_path / "IMG_1.jpg.xmp", None)
    assert xmp.choose_path(image, "replace") == (tmp_path / "IMG_1.xmp", None)
    shutil.copy(DATA / "lightroom.xmp", tmp_path / "IMG_1.xmp")
    assert xmp.choose_path(image, "append")[0] == tmp_path / "IMG_1.xmp"
    shutil.copy(DATA / "darktable.xmp", tmp_path / "IMG_1.jpg.xmp")
    assert xmp.choose_path(image, "append")[0] == tmp_path / "IMG_1.jpg.xmp"
    assert xmp.choose_path(image, "replace")[0] == tmp_path / "IMG_1.xmp"


def test_two_photos_sharing_a_stem_never_share_a_replace_named_sidecar(tmp_path: Path) -> None:
    jpeg, png = photo(tmp_path, "IMG_1.jpg"), photo(tmp_path, "IMG_1.png")
    settings_root = XmpSettings()
    path, note = write_xmp(jpeg, RESULT, settings_root, "replace")
    assert path == tmp_path / "IMG_1.jpg.xmp" and note is not None  # a clash: append
    raw = photo(tmp_path, "IMG_2.cr2")
    shutil.copy(DATA / "lightroom.xmp", tmp_path / "IMG_2.xmp")  # Lightroom's, for the raw
    jpeg2 = photo(tmp_path, "IMG_2.jpg")
    path, note = write_xmp(jpeg2, RESULT, settings_root, "replace")
    assert path == tmp_path / "IMG_2.jpg.xmp" and note is not None
    assert (tmp_path / "IMG_2.xmp").read_bytes() == (DATA / "lightroom.xmp").read_bytes()
    assert raw.exists() and png.exists()


def test_a_replace_named_sidecar_we_wrote_stays_ours(tmp_path: Path) -> None:
    image = photo(tmp_path, "IMG_3.jpg")
    result = XmpResult("IMG_3.jpg", "req-3", WHEN, under("dog"), None)
    assert write_xmp(image, result, SETTINGS, "replace") == (tmp_path / "IMG_3.xmp", None)
    photo(tmp_path, "IMG_3.png")  # appears later
    assert xmp.choose_path(image, "replace") == (tmp_path / "IMG_3.xmp", None)
    assert xmp.choose_path(tmp_path / "IMG_3.png", "replace")[0] == tmp_path / "IMG_3.png.xmp"


def test_a_write_keeps_permissions_and_writing_twice_changes_nothing(tmp_path: Path) -> None:
    image = photo(tmp_path, "IMG_1.jpg")
    sidecar = tmp_path / "IMG_1.jpg.xmp"
    shutil.copy(DATA / "darktable.xmp", sidecar)
    os.chmod(sidecar, 0o600)
    write_xmp(image, RESULT, SETTINGS)
    first = sidecar.read_bytes()
    inode = sidecar.stat().st_ino
    assert stat.S_IMODE(sidecar.stat().st_mode) == 0o600
    write_xmp(image, RESULT, SETTINGS)
    assert sidecar.read_bytes() == first and sidecar.stat().st_ino == inode  # not rewritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_1.jpg", "IMG_1.jpg.xmp"]


def test_a_sidecar_rewritten_by_a_photo_manager_during_our_write_is_merged_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = photo(tmp_path, "IMG_1.jpg")
    sidecar = tmp_path / "IMG_1.jpg.xmp"
    shutil.copy(DATA / "darktable.xmp", sidecar)
    real_merge, calls = xmp.merge, []

    def merge_while_darktable_writes(existing: bytes | None, *args: object, **kw: object) -> bytes:
        calls.append(existing)
        if len(calls) == 1:  # darktable saves a new rating between our read and our rename
            sidecar.write_bytes(sidecar.read_bytes().replace(b'xmp:Rating="4"', b'xmp:Rating="1"'))
        return real_merge(existing, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(xmp, "merge", merge_while_darktable_writes)
    write_xmp(image, RESULT, SETTINGS)
    assert len(calls) == 2
    tags = exiftool(sidecar)[sidecar]
    assert tags["XMP-xmp:Rating"] == 1  # their write survived
    assert "dog" in as_list(tags["XMP-dc:Subject"])  # and so did ours


@pytest.mark.parametrize("root", ["Visionati", ""])
@pytest.mark.parametrize(
    "result",
    [
        RESULT,
        XmpResult(
            "a & <b>.jpg", "r", WHEN, under("Beach & <sea>", "\x07bell"), 'A "quoted" <tag>.'
        ),
        XmpResult("IMG_1.jpg", "r", WHEN, (), None),
        XmpResult("IMG_1.jpg", "r", WHEN, under("dog"), "Alt text.", alt_text=True),
    ],
)
def test_a_new_sidecar_from_the_template_is_what_the_merge_would_build(
    result: XmpResult, root: str
) -> None:
    from lxml import etree

    settings = XmpSettings()
    words = [k[-1] for k in result.keywords]
    clean = XmpResult(
        result.file_name, result.request_id, result.tagged_at,
        under(*(xmp.xml_text(w) for w in words), root=root), result.description, result.alt_text,
    )  # fmt: skip
    fresh = merge(None, clean, settings)
    prefixes = ("dc", "lr", "digiKam", "vsync")
    declarations = "".join(f' xmlns:{p}="{NAMESPACES[p]}"' for p in prefixes)
    empty = (
        f'<?xpacket begin="\ufeff" id="{PACKET_ID}"?>\n'
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="visionati-sync {__version__}">\n'
        f' <rdf:RDF xmlns:rdf="{RDF}">\n  <rdf:Description rdf:about=""{declarations}/>\n'
        ' </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end="w"?>\n'
    ).encode()
    general = merge(empty, clean, settings)
    ours = b"\n     <rdf:li>sidecar</rdf:li>"  # only the template knows the file is its own
    assert ours in fresh and ours not in general
    bare = fresh.replace(ours, b"").replace(
        b"\n   <vsync:Created>\n    <rdf:Bag>\n    </rdf:Bag>\n   </vsync:Created>", b""
    )
    canonical = [etree.tostring(etree.fromstring(x), method="c14n") for x in (bare, general)]
    assert canonical[0] == canonical[1]
    assert merge(fresh, clean, settings) == fresh


# -- what stands at a sidecar's name ---------------------------------------------------------


def test_a_sidecar_that_is_a_link_is_never_read_or_written_through(tmp_path: Path) -> None:
    """X.jpg.xmp -> another user's private sidecar: merging through the link would copy their
    private description into the shared folder."""
    private = tmp_path / "private" / "diary.xmp"
    private.parent.mkdir()
    secret = (
        (DATA / "lightroom.xmp").read_bytes().replace(b"</rdf:RDF>", b"<!-- secret --></rdf:RDF>")
    )
    private.write_bytes(secret)
    shared = tmp_path / "shared"
    shared.mkdir()
    image = photo(shared, "IMG_1.jpg")
    (shared / "IMG_1.jpg.xmp").symlink_to(private)
    with pytest.raises(SidecarError, match="a symbolic link; sidecars are never read or written"):
        write_xmp(image, RESULT, SETTINGS)
    assert private.read_bytes() == secret
    assert (shared / "IMG_1.jpg.xmp").is_symlink()
    assert sorted(p.name for p in shared.iterdir()) == ["IMG_1.jpg", "IMG_1.jpg.xmp"]


@pytest.mark.parametrize("kind", ["dangling link", "directory", "fifo"])
def test_a_sidecar_name_taken_by_something_else_fails_and_stays(tmp_path: Path, kind: str) -> None:
    image = photo(tmp_path, "IMG_1.jpg")
    sidecar = tmp_path / "IMG_1.jpg.xmp"
    if kind == "dangling link":
        sidecar.symlink_to(tmp_path / "nowhere.xmp")
    elif kind == "directory":
        sidecar.mkdir()
    else:
        os.mkfifo(sidecar)
    with pytest.raises(SidecarError, match="sidecars are never read or written through it"):
        write_xmp(image, RESULT, SETTINGS)
    assert os.path.lexists(sidecar) and not (tmp_path / "nowhere.xmp").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_1.jpg", "IMG_1.jpg.xmp"]
