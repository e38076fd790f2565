from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from visionati_sync.sidecars import json as json_sidecar
from visionati_sync.sidecars.atomic import ChangedUnderneath, SidecarError, Snapshot, WriteBatch

ASSET = {
    "name": "IMG_1.jpg",
    "tags": {"dog": [{"name": "dog", "score": 0.97, "source": "x"}]},
    "descriptions": [{"description": "A dog.", "source": "openai"}],
    "unknown_key": [1],
}
WHEN = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def write_atomic(path: Path, data: bytes, expected: Snapshot | None = None) -> bool:
    """One file replaced as the writer replaces sidecars (a batch of one); False when the
    bytes were already there."""
    if expected is not None and expected.content == data:
        return False
    batch = WriteBatch()
    batch.stage(path, data, expected)
    error = batch.commit()[path]
    if error is not None:
        raise error
    return True


def render() -> bytes:
    return json_sidecar.render("IMG_1.jpg", "ab" * 32, "req-1", WHEN, {"features": ["tags"]}, ASSET)


def test_sidecar_holds_provenance_and_the_asset_verbatim() -> None:
    document = json.loads(render())
    assert document["file"] == "IMG_1.jpg"
    assert document["sha256"] == "ab" * 32
    assert document["request_id"] == "req-1"
    assert document["tagged_at"] == "2026-11-26T12:00:00Z"
    assert document["options"] == {"features": ["tags"]}
    assert document["asset"] == ASSET
    assert list(document["asset"]) == list(ASSET)  # key order kept too


def test_rendering_is_deterministic() -> None:
    assert render() == render()


def test_name_is_appended_and_never_clobbers_takeout_json(tmp_path: Path) -> None:
    image = tmp_path / "IMG_1.jpg"
    takeout = tmp_path / "IMG_1.jpg.json"
    takeout.write_text('{"google": "takeout"}')
    written = json_sidecar.sidecar_path(image, ".visionati.json")
    write_atomic(written, render())
    assert written == tmp_path / "IMG_1.jpg.visionati.json"
    assert takeout.read_text() == '{"google": "takeout"}'


def test_atomic_write_keeps_permissions_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a.visionati.json"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    assert write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.visionati.json"]


def test_atomic_write_refuses_to_replace_a_file_changed_underneath(tmp_path: Path) -> None:
    target = tmp_path / "a.xmp"
    target.write_bytes(b"v1")
    snapshot = Snapshot.read(target)
    target.write_bytes(b"v2 written by a photo manager")
    with pytest.raises(ChangedUnderneath):
        write_atomic(target, b"ours", expected=snapshot)
    assert target.read_bytes() == b"v2 written by a photo manager"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.xmp"]


def test_a_failed_write_names_the_file_and_changes_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"user data")
    with pytest.raises(SidecarError, match=r"not-a-folder/a\.json: cannot write"):
        write_atomic(blocker / "a.json", b"new")
    assert blocker.read_bytes() == b"user data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]


def test_a_batch_lands_every_file_but_one_changed_underneath(tmp_path: Path) -> None:
    from visionati_sync.sidecars.atomic import WriteBatch

    untouched, changed, new = (tmp_path / n for n in ("a.xmp", "b.xmp", "c.json"))
    untouched.write_bytes(b"a1")
    changed.write_bytes(b"b1")
    os.chmod(changed, 0o600)
    batch = WriteBatch()
    batch.stage(untouched, b"a2", Snapshot.read(untouched))
    batch.stage(changed, b"b2", Snapshot.read(changed))
    batch.stage(new, b"c")
    changed.write_bytes(b"b1, then a photo manager's edit")
    outcomes = batch.commit()
    assert outcomes[untouched] is None and outcomes[new] is None
    assert isinstance(outcomes[changed], ChangedUnderneath)
    assert (untouched.read_bytes(), new.read_bytes()) == (b"a2", b"c")
    assert changed.read_bytes() == b"b1, then a photo manager's edit"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.xmp", "b.xmp", "c.json"]
