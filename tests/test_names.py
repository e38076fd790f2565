"""Upload names the API cannot garble, and that tell it nothing about the user: against an
emulator that rewrites names (every character but A-Z a-z 0-9 . _ - becomes _) and answers
the assets in any order, each photo gets the result for its own bytes."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from support import EmulatorControl, Library
from visionati_sync.devtools import samples
from visionati_sync.devtools.emulator import synthesize_asset
from visionati_sync.pipeline.poller import match_assets

# names as people name photos; "a b.jpg" and "a_b.jpg" come back as one name once rewritten
NAMES = [
    "IMG 0001 (1).jpg", "café au lait.jpg", "Anna – Geburtstag 2019.jpg", "日本の写真.jpg",
    "a&b#c.jpg", "a b.jpg", "a_b.jpg", "Ω señor.JPG",
]  # fmt: skip
FIELDS = {"feature": ["tags", "descriptions"], "role": "general", "language": "English"}


def words(name: str) -> list[str]:
    """The parts of a file name that would give it away (hex-like ones could be chance)."""
    stem = name.rsplit(".", 1)[0]
    return [
        w for w in re.split(r"[\W_]+", stem) if len(w) >= 3 and not re.fullmatch("[0-9a-f]+", w)
    ]


@pytest.mark.parametrize("send_file_names", [False, True], ids=["synthetic", "real names"])
def test_every_photo_gets_the_result_for_its_own_bytes_whatever_the_api_does_to_names(
    library: Library, control: EmulatorControl, send_file_names: bool
) -> None:
    control.settings(rewrite_names=True, shuffle_assets=True, seed=7)
    photos = {}
    for n, name in enumerate(NAMES):
        path = library.photos / name
        path.write_bytes(samples.jpeg(n))
        photos[name] = path
    library.configure(upload={"send_file_names": send_file_names})
    scan = library.cli("scan", "--yes")
    assert scan.returncode == 0, scan.stderr[-3000:]
    assert library.counts()["done"] == len(NAMES)
    for name, path in photos.items():
        sidecar = json.loads(path.with_name(name + ".visionati.json").read_text())
        expected = synthesize_asset("", path.read_bytes(), FIELDS)
        assert sidecar["asset"]["descriptions"] == expected["descriptions"], name
        assert sidecar["asset"]["tags"] == expected["tags"], name
    uploaded = Counter(h for entry in control.uploads() for h in entry["sha256"])
    assert len(uploaded) == len(NAMES) and max(uploaded.values()) == 1  # nothing paid twice
    sent = [n for entry in control.uploads() for n in entry["file_names"]]
    if send_file_names:
        assert "Anna – Geburtstag 2019.jpg" in sent  # the user asked for the real names
    else:
        assert all(re.fullmatch(r"v[0-9a-f]{6}[0-9]+\.jpg", name) for name in sent), sent
        log = json.dumps(control.log(), ensure_ascii=False)  # all that reached the API
        leaked = [w for name in NAMES for w in words(name) if w.lower() in log.lower()]
        assert leaked == [], leaked


def test_answers_are_paired_by_place_only_where_the_order_held_and_never_guessed() -> None:
    """Two names that a rewriting leaves alike ("日本.jpg", "写真.jpg": both "__.jpg") cannot
    be told apart by name: by place where the answer kept the order sent, otherwise not."""
    uploads = {"日本.jpg": 1, "写真.jpg": 2, "plain.jpg": 3}  # in the order sent

    def asset(name: str, tag: str) -> dict[str, object]:
        return {"name": name, "tags": {tag: []}}

    kept = [asset("__.jpg", "first"), asset("__.jpg", "second"), asset("plain.jpg", "third")]
    by_job, missing = match_assets(kept, uploads)
    assert {job: list(a["tags"]) for job, a in by_job.items()} == {
        1: ["first"], 2: ["second"], 3: ["third"],
    }  # fmt: skip
    assert missing == []
    moved = [kept[2], kept[0], kept[1]]  # plain.jpg is not where it was sent: order not kept
    by_job, missing = match_assets(moved, uploads)
    assert list(by_job) == [3] and missing == ["日本.jpg", "写真.jpg"]
    # a rewriting that leaves one name on each side pairs by what is left of it
    by_job, _ = match_assets([asset("caf_ au lait.jpg", "x")], {"café au lait.jpg": 9})
    assert list(by_job) == [9]
