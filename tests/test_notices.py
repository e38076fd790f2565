"""Telling photo managers that tags were written (``notify``): the user's command, a signed
webhook, Immich and PhotoPrism (stand-ins: see tests/standins.py) each hear of every written
set exactly once, batched; a notifier that fails is retried, across a restart, without
holding up tagging; a scan tells them before it ends."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from media import jpeg
from standins import Immich, PhotoPrism, Webhook
from support import Library, wait_until
from visionati_sync.config.notify import NotifySettings
from visionati_sync.notices.dispatch import Dispatcher, Notices
from visionati_sync.notices.immich import Immich as ImmichSender
from visionati_sync.notices.outbox import Outbox, Written

IMMICH_KEY = "immich-key-0123456789"
PRISM_TOKEN = "prism-token-0123456789"
HOOK_SECRET = "hook-secret-0123456789"
CONTAINER = "/usr/src/app/external/photos"

RECORDER = """\
import json, os, sys, time
out = sys.argv[1]
paths = [p for p in sys.stdin.buffer.read().split(b"\\0") if p]
details = json.loads(os.environ["VISIONATI_SYNC_NOTICE"])
with open(os.environ["VISIONATI_SYNC_NOTICE_FILE"]) as f:
    assert json.load(f) == details
name = os.path.join(out, f"{time.time_ns()}.json")
with open(name, "w") as f:
    json.dump({"paths": [p.decode() for p in paths], "details": details}, f)
"""


@pytest.fixture
def immich() -> Any:
    server = Immich(IMMICH_KEY)
    yield server
    server.close()


@pytest.fixture
def prism() -> Any:
    server = PhotoPrism(PRISM_TOKEN)
    yield server
    server.close()


@pytest.fixture
def hook() -> Any:
    server = Webhook(HOOK_SECRET)
    yield server
    server.close()


def drop(folder: Path, *names: str) -> list[Path]:
    """Photos appearing in a folder at once (made aside, then renamed in)."""
    aside = folder.parent / "aside"
    aside.mkdir(exist_ok=True)
    made = [jpeg(aside / name, 320 + 8 * i, 240) for i, name in enumerate(names)]
    return [Path(shutil.move(str(path), folder / path.name)) for path in made]


def runs(out: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]


def test_each_notifier_hears_of_each_written_set_once(
    library: Library, immich: Immich, prism: PhotoPrism, hook: Webhook
) -> None:
    out = library.tmp / "command-runs"
    out.mkdir()
    recorder = library.tmp / "recorder.py"
    recorder.write_text(RECORDER)
    key_file = library.tmp / "immich.key"
    key_file.write_text(IMMICH_KEY + "\n")
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        immich.add(f"{CONTAINER}/{name}")
    decoy = immich.add(f"/old{CONTAINER}/a.jpg")  # holds the path as a substring: not ours
    library.configure(notify={
        "debounce": 1.0,
        "command": {"run": [sys.executable, str(recorder), str(out)]},
        "webhook": {"url": hook.url},
        "immich": {"url": immich.url, "key_file": str(key_file),
                   "path_map": {str(library.photos): CONTAINER}},
        "photoprism": {"url": prism.url, "token": PRISM_TOKEN,
                       "path_map": {str(library.tmp): ""}},
    })  # fmt: skip
    library.env["VISIONATI_SYNC_WEBHOOK_SECRET"] = HOOK_SECRET
    with library.daemon() as daemon:
        first = drop(library.photos, "a.jpg", "b.jpg", "c.jpg")
        library.wait_for("done", 3)
        wait_until(lambda: runs(out) and hook.files() and immich.refreshed() and prism.indexed(),
                   30, what="every notifier told")  # fmt: skip
        drop(library.photos, "d.jpg")  # a second set, after the first was told
        library.wait_for("done", 4)
        wait_until(lambda: len(hook.files()) == 2 and len(runs(out)) == 2, 30, what="2nd set")
        wait_until(lambda: len(immich.refreshed()) == 2 and len(prism.indexed()) == 2, 30)
        daemon_log = daemon.log_path.read_text()

    names = [p.name for p in first]
    # the command: once per set, the written paths on stdin, the details as JSON
    command = runs(out)
    assert len(command) == 2
    assert sorted(Path(e["file"]).name for e in command[0]["details"]["files"]) == names
    for entry in command[0]["details"]["files"]:
        image = Path(entry["file"])
        assert set(entry["written"]) == {f"{image}.xmp", f"{image}.visionati.json"}
        assert entry["created"] == [f"{image}.xmp"]  # no sidecar was there before
    assert sorted(command[0]["paths"]) == sorted(
        p for e in command[0]["details"]["files"] for p in e["written"]
    )
    assert [Path(e["file"]).name for e in command[1]["details"]["files"]] == ["d.jpg"]
    # the webhook: one signed delivery per set (the receiver refuses a bad signature)
    assert [sorted(Path(f).name for f in files) for files in hook.files()] == [names, ["d.jpg"]]
    assert not [r for r in hook.received if r.status != 200]
    # Immich: new sidecars → the discovery job first; then one refresh per set, exact paths
    by_path = {path: asset for asset, path in immich.assets.items()}
    refreshed = immich.refreshed()
    assert sorted(refreshed[0]) == sorted(by_path[f"{CONTAINER}/{n}"] for n in names)
    assert refreshed[1] == [by_path[f"{CONTAINER}/d.jpg"]]
    assert decoy not in refreshed[0]
    calls = [(r.method, r.path) for r in immich.delivered() if r.path != "/api/search/metadata"]
    assert calls == [("PUT", "/api/jobs/sidecar"), ("POST", "/api/assets/jobs")] * 2
    sidecar_job = immich.delivered("PUT", "/api/jobs/sidecar")[0].json()
    assert sidecar_job == {"command": "start", "force": False}
    # PhotoPrism: the folder, relative to its originals, once per set
    assert prism.indexed() == ["photos", "photos"]
    assert all(r.json()["rescan"] is False for r in prism.delivered())
    # no secret in the log
    for secret in (IMMICH_KEY, PRISM_TOKEN, HOOK_SECRET):
        assert secret not in daemon_log


def test_a_failing_notifier_is_retried_across_a_restart_without_holding_up_tagging(
    library: Library, immich: Immich, prism: PhotoPrism, hook: Webhook
) -> None:
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        immich.add(f"{CONTAINER}/{name}")
    out = library.tmp / "command-runs"
    out.mkdir()
    recorder = library.tmp / "recorder.py"
    recorder.write_text(  # the user's program fails (exit 3) until the others are back
        "import sys, time\nif time.time() < float(sys.argv[2]): sys.exit(3)\n" + RECORDER
    )
    recovered = time.monotonic() + 30
    wall = time.time() + 30
    library.configure(notify={
        "debounce": 0.5, "retry_base_delay": 0.5, "retry_max_delay": 3,
        "command": {"run": [sys.executable, str(recorder), str(out), str(wall)]},
        "webhook": {"url": hook.url, "secret": HOOK_SECRET},
        "immich": {"url": immich.url, "key": IMMICH_KEY,
                   "path_map": {str(library.photos): CONTAINER}},
        "photoprism": {"url": prism.url, "token": PRISM_TOKEN,
                       "path_map": {str(library.tmp): ""}},
    })  # fmt: skip
    hook.fail_until = immich.fail_until = prism.fail_until = recovered  # all down for 30 s
    with library.daemon("first.log") as first:
        drop(library.photos, "a.jpg", "b.jpg")
        library.wait_for("done", 2)
        wait_until(lambda: len(hook.received) >= 2 and len(immich.received) >= 2
                   and len(prism.received) >= 2 and len(first.logged(
                       "notification not delivered; kept, will retry", notifier="command")) >= 2,
                   20, what="retries while the notifiers fail")  # fmt: skip
    assert not hook.delivered() and not immich.refreshed() and not prism.indexed()
    assert runs(out) == []
    with library.daemon("second.log"):
        drop(library.photos, "c.jpg")
        library.wait_for("done", 3, timeout=15)  # tagged while the notifiers still fail
        assert time.monotonic() < recovered
        wait_until(lambda: hook.delivered() and immich.refreshed() and prism.indexed()
                   and runs(out), 45, what="told at last")  # fmt: skip
        wait_until(lambda: not list((library.tmp / "xdg-state").rglob("notices/*/*.json")), 10)
    # every file told exactly once, in one batch once the notifiers were back
    names = ["a.jpg", "b.jpg", "c.jpg"]
    assert [sorted(Path(f).name for f in files) for files in hook.files()] == [names]
    assert hook.delivered()[0].at >= recovered
    assert [sorted(ids) for ids in immich.refreshed()] == [sorted(immich.assets)]
    assert prism.indexed() == ["photos"]
    assert [sorted(Path(e["file"]).name for e in r["details"]["files"]) for r in runs(out)] == [
        names
    ]
    for server in (hook, immich, prism):
        assert len([r for r in server.received if r.status == 503]) >= 3


def test_a_scan_tells_before_it_ends(library: Library, immich: Immich) -> None:
    drop(library.photos, "a.jpg", "b.jpg")
    for name in ("a.jpg", "b.jpg"):
        immich.add(f"{CONTAINER}/{name}")
    library.configure(notify={
        "debounce": 30,  # longer than the scan: it must not wait for quiet
        "immich": {"url": immich.url, "key": IMMICH_KEY,
                   "path_map": {str(library.photos): CONTAINER}},
    })  # fmt: skip
    result = library.cli("scan")
    assert result.returncode == 0, result.stderr
    assert [sorted(ids) for ids in immich.refreshed()] == [sorted(immich.assets)]


def test_apply_and_untag_tell_what_they_wrote(library: Library, hook: Webhook) -> None:
    library.configure(
        sidecars={"apply": "review"},
        notify={"debounce": 30, "webhook": {"url": hook.url, "secret": HOOK_SECRET}},
    )
    (photo,) = drop(library.photos, "a.jpg")
    assert library.cli("scan").returncode == 0
    assert not hook.received  # nothing written yet: nothing told
    result = library.cli("apply", str(library.photos))
    assert result.returncode == 0, result.stderr
    assert hook.files() == [[str(photo)]]
    untagged = library.cli("untag", str(library.photos))
    assert untagged.returncode == 0, untagged.stderr
    assert hook.files() == [[str(photo)], [str(photo)]]  # told again: our tags are gone
    (gone,) = hook.delivered()[1].json()["files"]
    assert set(gone["written"]) == {f"{photo}.xmp", f"{photo}.visionati.json"}


# -- the parts, over real HTTP, without a daemon -------------------------------------------


def written(path: str, created: bool = False) -> Written:
    sidecar = path + ".xmp"
    return Written(path, (sidecar,), (sidecar,) if created else ())


def test_immich_refreshes_only_exact_paths_and_discovers_only_new_sidecars(
    tmp_path: Path, immich: Immich
) -> None:
    ours = immich.add(f"{CONTAINER}/x.jpg")
    immich.add(f"{CONTAINER}/x.jpg.old.jpg")  # a substring match that is another file
    settings = NotifySettings.model_validate({"debounce": 0, "immich": {
        "url": immich.url, "path_map": {"/library": CONTAINER}}})  # fmt: skip
    assert settings.immich is not None
    sender = ImmichSender(settings.immich, IMMICH_KEY)
    outbox = Outbox(tmp_path, ["immich"])
    outbox.put([written("/library/x.jpg"), written("/elsewhere/y.jpg")])
    assert Dispatcher(outbox, sender, settings).step() is True
    assert immich.refreshed() == [[ours]]
    assert not immich.delivered("PUT", "/api/jobs/sidecar")  # the sidecar was there before
    assert outbox.waiting("immich") == []


def test_a_refused_request_is_dropped_and_a_refused_key_kept(
    tmp_path: Path, immich: Immich
) -> None:
    immich.add(f"{CONTAINER}/x.jpg")
    settings = NotifySettings.model_validate({"debounce": 0, "immich": {
        "url": immich.url, "path_map": {"/library": CONTAINER}}})  # fmt: skip
    assert settings.immich is not None
    outbox = Outbox(tmp_path, ["immich"])
    outbox.put([written("/library/x.jpg")])
    wrong_key = Dispatcher(outbox, ImmichSender(settings.immich, "wrong"), settings)
    assert isinstance(wrong_key.step(), float)  # 401: kept, tried again later
    assert len(outbox.waiting("immich")) == 1
    bad = settings.immich.model_copy(update={"url": immich.url + "/nowhere"})
    broken = Dispatcher(outbox, ImmichSender(bad, IMMICH_KEY), settings)
    assert broken.step() is True  # 404: sending it again cannot help
    assert outbox.waiting("immich") == []


def test_a_command_that_hangs_is_ended_and_tried_again(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    script = tmp_path / "slow.py"
    script.write_text(
        "import os, sys, time\n"
        f"if not os.path.exists({str(tmp_path / 'ready')!r}): time.sleep(60)\n" + RECORDER
    )
    settings = NotifySettings.model_validate({"debounce": 0, "retry_base_delay": 0.1,
        "command": {"run": [sys.executable, str(script), str(out)], "timeout": 1}})  # fmt: skip
    notices = Notices(tmp_path / "notices", settings, lambda name: None)
    notices.put([written("/library/x.jpg", created=True)])
    started = time.monotonic()
    notices.send_now()
    assert time.monotonic() - started < 10  # ended at its timeout, not after 60 s
    assert runs(out) == [] and notices.dispatchers[0].pending() == 1
    (tmp_path / "ready").touch()
    wait_until(lambda: notices.dispatchers[0].step() is True, 5, what="the retry")
    assert [r["paths"] for r in runs(out)] == [["/library/x.jpg.xmp"]]
