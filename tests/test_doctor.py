"""`visionati-sync doctor`: on a fresh config it names each problem a test plants (no
exiftool, an unwritable folder, a wrong key, SQLite on a share, a folder the unit's sandbox
hides, a notifier with no key), each with its fix, and exits by the worst; the sandbox is
read from the unit's text as systemd.exec(5) describes it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from standins import Immich
from support import Library
from visionati_sync.actions.doctor import check, sandbox_problems, worst
from visionati_sync.actions.install import shipped
from visionati_sync.config import load_config
from visionati_sync.rules.mounts import parse
from visionati_sync.rules.sandbox import Sandbox


def findings(library: Library, *args: str, as_user: bool = False) -> tuple[int, list[Any]]:
    result = library.cli("doctor", "--json", *args, as_user=as_user)
    return result.returncode, json.loads(result.stdout)


def said(found: list[Any], level: str, topic: str) -> list[str]:
    return [f["message"] for f in found if f["level"] == level and f["topic"] == topic]


def test_a_sound_setup_is_all_ok(library: Library) -> None:
    status, found = findings(library)
    assert status == 0, [f for f in found if f["level"] != "ok"]
    assert any("accepts the key" in m for m in said(found, "ok", "api"))
    assert any("tags go to" in m for m in said(found, "ok", "folders[0]"))
    text = library.cli("doctor")
    assert text.returncode == 0 and text.stdout.startswith("ok      config:")


def test_each_planted_problem_is_named_with_its_fix(library: Library) -> None:
    immich = Immich("a-key-not-given")
    locked = library.tmp / "locked"
    locked.mkdir()
    locked.chmod(0o555)  # sidecars cannot be written here by a user
    unit = library.tmp / "visionati-sync.service"
    unit.write_text(shipped(user=False))  # ReadWritePaths=/srv/photos, PrivateTmp=yes
    library.configure(
        [library.photos, locked],
        api={"key": "not-the-key"},
        sidecars={"targets": ["lightroom"]},  # JPEGs carry their tags inside: exiftool needed
        notify={"immich": {"url": immich.url}},  # reachable, but no key given
    )
    tools = library.tmp / "no-tools"  # no exiftool, ffmpeg, ffprobe; setpriv for as_user
    tools.mkdir()
    (tools / "setpriv").symlink_to(shutil.which("setpriv") or "/usr/bin/setpriv")
    library.env["PATH"] = str(tools)
    status, found = findings(library, "--unit", str(unit), as_user=True)
    assert status == 2
    assert said(found, "error", "api") == [f"{library.url} refused the key"]
    assert said(found, "error", "tool exiftool")  # an error: embedding needs it
    assert said(found, "warning", "tool ffmpeg")  # a warning: only videos need it
    assert any("no sidecar can be written" in m for m in said(found, "error", "folders[1]"))
    hidden = said(found, "error", "unit")
    assert any(f"folders[0].path {library.photos}: PrivateTmp=yes" in m for m in hidden)
    assert said(found, "warning", "unit") == [
        f"{unit}: runs with the config /etc/visionati-sync/config.yaml, not {library.config}"
    ]
    assert said(found, "error", "notify.immich") == [f"{immich.url} answers, but no key or "
                                                    "token is set"]  # fmt: skip
    immich.close()
    assert all(f["fix"] for f in found if f["level"] == "error" and f["topic"] != "notify.immich")
    text = library.cli("doctor", "--unit", str(unit))
    assert "        fix: install the Debian package libimage-exiftool-perl" in text.stdout


def test_a_config_that_does_not_load_is_one_error(library: Library) -> None:
    library.config.write_text("api: [\n")
    status, found = findings(library)
    assert status == 2 and [f["topic"] for f in found] == ["config"]
    assert "not valid YAML" in found[0]["message"]


def test_sqlite_and_folders_on_a_share(library: Library, tmp_path: Path) -> None:
    """The mount table is given: no NFS server runs here (tests/test_shares.py says more)."""
    mounts = parse(
        f"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        f"40 22 0:50 / {tmp_path} rw,relatime shared:9 - nfs4 nas:/volume1 rw,vers=4.1\n"
    )
    config = load_config(library.config, environ={})
    found = check(config, unit=tmp_path / "none.service", mounts=mounts)
    database = [f for f in found if f.topic == "database"]
    assert database[0].level == "error" and "network filesystem (nfs4" in database[0].message
    folder = [f.message for f in found if f.topic == "folders[0]"]
    assert any("nfs4 (nas:/volume1); watched by inotify, and a scan every 600 s" in m
               for m in folder)  # fmt: skip
    assert worst(found) == 2


def test_the_sandbox_as_systemd_reads_it() -> None:
    sandbox = Sandbox.parse(shipped(user=False))
    assert sandbox.program == "/usr/local/bin/visionati-sync"
    assert sandbox.config == "/etc/visionati-sync/config.yaml"
    assert sandbox.hides("/srv/photos/2024", write=True) is None  # ReadWritePaths=
    assert "ProtectHome=yes" in (sandbox.hides("/home/ann/.config/v.yaml") or "")
    assert "PrivateTmp=yes" in (sandbox.hides("/tmp/clone/.venv/bin/python") or "")
    assert "ProtectSystem=strict" in (sandbox.hides("/mnt/photos", write=True) or "")
    assert sandbox.hides("/mnt/photos") is None  # read-only, but seen
    relaxed = Sandbox.parse(
        "[Service]\nExecStart=/opt/v/bin/visionati-sync -c /home/ann/v.yaml run\n"
        "ProtectHome=read-only\nPrivateTmp=no\nProtectSystem=full\n"
        "ReadWritePaths=/home/ann/Pictures\nReadWritePaths=\nReadWritePaths=-/srv/a /srv/b\n"
    )
    assert relaxed.config == "/home/ann/v.yaml" and relaxed.hides(relaxed.config) is None
    assert relaxed.writable == ["/srv/a", "/srv/b"]  # an empty assignment resets the list
    assert "read-only" in (relaxed.hides("/home/ann/Pictures", write=True) or "")
    assert relaxed.hides("/tmp/x", write=True) is None
    assert "ProtectSystem=full" in (relaxed.hides("/etc/x", write=True) or "")
    bound = Sandbox.parse(
        "[Service]\nProtectHome=yes\nReadOnlyPaths=/home/ann/Music\n"
        "BindReadOnlyPaths=/home/ann/Pictures\nBindPaths=/srv/in:/home/ann/Inbox\n"
    )
    assert bound.hides("/home/ann/Pictures/a.jpg") is None  # bound into the sandbox
    assert "ProtectHome=yes" in (bound.hides("/home/ann/Pictures", write=True) or "")
    assert "ProtectHome=yes" in (bound.hides("/home/ann/Music") or "")  # hidden all the same
    assert bound.hides("/home/ann/Inbox/b.jpg", write=True) is None  # the bind's destination


def test_install_service_refuses_a_unit_that_cannot_see_its_program(
    library: Library, tmp_path: Path
) -> None:
    """As a new user tried it: a program in a clone under /tmp, the config in the home
    folder; the unit would name both, and see neither."""
    clone_program = Path("/tmp") / "clone" / ".venv" / "bin" / "visionati-sync"
    unit = shipped(user=False).replace("/usr/local/bin/visionati-sync", str(clone_program))
    unit = unit.replace("/etc/visionati-sync/config.yaml", "/home/ann/.config/v/config.yaml")
    config = load_config(library.config, environ={})
    problems = list(sandbox_problems(Sandbox.parse(unit), config))
    assert any(f"its program {clone_program}: PrivateTmp=yes" in p for p in problems)
    assert any("its config /home/ann/.config/v/config.yaml: ProtectHome=yes" in p
               for p in problems)  # fmt: skip
