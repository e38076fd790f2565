"""The daemon under systemd's eyes: a real AF_UNIX datagram socket as ``$NOTIFY_SOCKET``, the
daemon a real subprocess. It says when it is ready, what it is doing, that it is alive (and
stops saying so when a stage hangs), and when it reloads and stops."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import media
from support import Daemon, EmulatorControl, Library, NotifySocket, cli, wait_until
from visionati_sync.devtools import samples

pytestmark = pytest.mark.slow


def daemon(library: Library, notify: NotifySocket, **env: str) -> Daemon:
    library.env.update(NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="1000000", **env)
    return library.daemon()


def test_ready_status_watchdog_reload_and_stop_are_told_to_systemd(
    library: Library, notify: NotifySocket
) -> None:
    with daemon(library, notify) as running:
        ready = wait_until(lambda: notify.with_key("READY"), 30, 0.05, "READY=1")
        assert ready[0]["READY"] == "1" and "0 done" in ready[0]["STATUS"]
        samples.write_library(library.photos, 3)
        said = lambda: [f for f in notify.with_key("STATUS") if f["STATUS"].startswith("3 done")]  # noqa: E731
        wait_until(said, 30, 0.1, "STATUS saying 3 done")
        since = notify.now()
        time.sleep(2.2)  # the watchdog wants a sign of life every second (WATCHDOG_USEC/2)
        assert len(notify.with_key("WATCHDOG", since)) >= 3
        since = notify.now()
        running.process.send_signal(signal.SIGHUP)
        wait_until(lambda: notify.with_key("READY", since), 30, 0.05, "READY=1 after reload")
        messages = [fields for at, fields in notify.read() if at >= since]
        reloading = next(i for i, f in enumerate(messages) if "RELOADING" in f)
        assert int(messages[reloading]["MONOTONIC_USEC"]) > 0
        assert reloading < next(i for i, f in enumerate(messages) if "READY" in f)
        assert running.stop() == 0
    stopping = notify.with_key("STOPPING")
    assert stopping and int(stopping[0]["EXTEND_TIMEOUT_USEC"]) > 0


def test_a_hung_stage_stops_the_signs_of_life(library: Library, notify: NotifySocket) -> None:
    env = {"VISIONATI_SYNC_TEST_HANG": "poller", "VISIONATI_SYNC_HANG_AFTER": "2"}
    with daemon(library, notify, **env) as running:
        wait_until(lambda: notify.with_key("READY"), 30, 0.05, "READY=1")
        wait_until(lambda: running.logged("a stage is stuck", stages=["poller"]), 30, 0.1,
                   "the daemon noticing its poller is stuck")  # fmt: skip
        since = notify.now()
        time.sleep(2.5)  # systemd would restart it now: nothing says it is alive
        assert notify.with_key("WATCHDOG", since) == []
        assert notify.with_key("STATUS", 0)  # it still says what it is doing


def test_without_systemd_nothing_is_sent_and_nothing_breaks(library: Library) -> None:
    samples.write_library(library.photos, 2)
    with library.daemon() as running:
        library.wait_for("done", 2)
        assert running.stop() == 0


# The unit's MemoryDenyWriteExecute=yes, as the kernel's own switch (prctl PR_SET_MDWE, Linux
# 6.3+: no memory mapped writable and executable, none made executable later), set before the
# daemon starts: libvips, Pillow's plugins, LibRaw, lxml and ffmpeg must all work under it.
NO_WRITABLE_CODE = """
import ctypes, errno, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:
    sys.exit("PR_SET_MDWE: " + os.strerror(ctypes.get_errno()))
os.execv(sys.argv[1], sys.argv[1:])
"""


def test_every_format_is_prepared_in_memory_never_writable_and_executable(
    library: Library, control: EmulatorControl
) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", NO_WRITABLE_CODE, sys.executable, "-c",
         "import mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_WRITE | mmap.PROT_EXEC)"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if "PR_SET_MDWE" in probe.stderr:
        pytest.skip(f"this kernel cannot deny writable code: {probe.stderr.strip()}")
    assert probe.returncode != 0 and "PermissionError" in probe.stderr  # the switch holds
    photos = library.photos
    media.jpeg(photos / "a.jpg", 3000, 2000)  # larger than max_edge: libvips shrinks it
    media.heic(photos / "b.heic")  # pillow-heif
    media.tiff(photos / "c.tif")  # libvips
    media.video(photos / "d.mov", 4, raw=True)  # over 20 MB: ffprobe and ffmpeg's frames
    files = 4
    if media.SAMPLES is not None:  # a camera's RAW: LibRaw (rawpy)
        shutil.copy2(media.sample("canon_eos_6d.dng"), photos / "e.dng")
        files += 1
    wrapper = [sys.executable, "-c", NO_WRITABLE_CODE]
    result = cli(library.config, "scan", "--yes", env=library.env, wrapper=wrapper)
    assert result.returncode == 0, result.stderr[-3000:]
    assert library.counts()["done"] == files
    assert len(control.uploads()) >= 1


ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_units_verify_clean_and_the_system_one_is_hardened(
    tmp_path: Path,
) -> None:
    """`systemd-analyze verify` says nothing of either unit, and `systemd-analyze security`
    rates the system one 2.0 or better (Debian's systemd package, from system-deps.sh)."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: scripts/system-deps.sh installs it"
    unit = (ROOT / "systemd" / "visionati-sync.service").read_text()
    installed = Path(sys.executable).parent / "visionati-sync"  # as the install step puts it
    rendered = tmp_path / "visionati-sync.service"
    rendered.write_text(unit.replace("/usr/local/bin/visionati-sync", str(installed)))
    verify = subprocess.run([analyze, "verify", str(rendered)], capture_output=True, text=True,
                            check=False)  # fmt: skip
    assert (verify.returncode, verify.stdout, verify.stderr) == (0, "", "")
    user_unit = (ROOT / "systemd" / "visionati-sync-user.service").read_text()
    (tmp_path / "user").mkdir()
    user = tmp_path / "user" / "visionati-sync.service"
    user.write_text(user_unit.replace("/usr/local/bin/visionati-sync", str(installed)))
    verify = subprocess.run([analyze, "verify", str(user)], capture_output=True, text=True,
                            check=False)  # fmt: skip
    assert (verify.returncode, verify.stdout, verify.stderr) == (0, "", "")
    security = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(rendered)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security.stdout)
    assert found, security.stdout[-2000:] + security.stderr
    assert float(found.group(1)) <= 2.0, security.stdout


def test_a_reload_adds_a_folder_and_a_broken_config_leaves_the_running_one(
    library: Library, notify: NotifySocket
) -> None:
    second = library.tmp / "second"
    second.mkdir()
    with daemon(library, notify) as running:
        wait_until(lambda: notify.with_key("READY"), 30, 0.05, "READY=1")
        library.configure([library.photos, second], sidecars={"formats": ["json"]})
        running.process.send_signal(signal.SIGHUP)
        wait_until(lambda: running.logged("configuration reloaded"), 60, 0.1, "the reload")
        (dropped,) = samples.write_library(second, 1)  # no restart: watched since the reload
        library.wait_for("done", 1)
        assert (second / f"{dropped.name}.visionati.json").exists()
        assert not (second / f"{dropped.name}.xmp").exists()  # the new sidecar settings too
        library.config.write_text("folders: [\\n")  # broken
        running.process.send_signal(signal.SIGHUP)
        wait_until(lambda: running.logged("reload refused"), 30, 0.1, "the refusal")
        library.configure([library.photos, second], sidecars={"formats": ["json"]})  # for `status`
        samples.write_library(library.photos, 1, start=1)
        library.wait_for("done", 2)  # the running configuration goes on
        assert running.alive()
        assert running.stop() == 0


def test_install_service_writes_this_installations_unit(library: Library, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: scripts/system-deps.sh installs it"
    program = Path(sys.executable).with_name("visionati-sync")
    root = tmp_path / "root"
    # the test's config and photos are in the temporary folder, which PrivateTmp=yes hides
    shown = cli(library.config, "install-service", "--dry-run", "--root", str(root),
                env=library.env)  # fmt: skip
    assert shown.returncode == 1, shown.stderr
    assert f"ExecStart={program} --config {library.config} run" in shown.stdout
    assert f"ReadWritePaths={library.photos}\n" in shown.stdout
    assert "systemctl enable --now visionati-sync" in shown.stdout
    assert "install -m" not in shown.stdout  # the header says what was done, not what to do
    assert "written by `visionati-sync install-service`" in shown.stdout
    assert f"cannot see its config {library.config}: PrivateTmp=yes" in shown.stderr
    assert f"cannot write in folders[0].path {library.photos}: PrivateTmp=yes" in shown.stderr
    refused = cli(library.config, "install-service", "--root", str(root), env=library.env)
    assert refused.returncode == 1 and not root.exists()  # nothing written
    done = cli(library.config, "install-service", "--force", "--root", str(root),
               env=library.env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    unit = root / "etc" / "systemd" / "system" / "visionati-sync.service"
    assert f"wrote {unit}" in done.stdout and not (Path("/etc/systemd/system") / unit.name).exists()
    verify = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                            check=False)  # fmt: skip
    assert (verify.returncode, verify.stdout, verify.stderr) == (0, "", "")
    security = subprocess.run([analyze, "security", "--offline=true", "--no-pager", str(unit)],
                              capture_output=True, text=True, check=False)  # fmt: skip
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security.stdout)
    assert found and float(found.group(1)) <= 2.0
    mine = cli(library.config, "install-service", "--user", "--force", "--root", str(root),
               env=library.env)  # fmt: skip
    assert mine.returncode == 0, mine.stderr
    home = Path(library.env["HOME"]).relative_to("/")
    assert (root / home / ".config" / "systemd" / "user" / "visionati-sync.service").exists()
