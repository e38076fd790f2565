"""Network shares: the filesystem read from mount tables (real lines of the formats the
kernel writes, given to the detector: this machine mounts no NFS or SMB share), folders only a
scan sees tagged within one interval, a share unmounted never read as deleted files (a real
mount, where the tests may mount), and a SQLite job table on a share refused with the reason."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support import EmulatorControl, Library, wait_until
from visionati_sync.devtools import samples
from visionati_sync.jobtable.engine import refuse_share
from visionati_sync.rules.mounts import mount_of, network_mount, parse

MOUNTINFO = r"""22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
36 22 0:32 / /mnt/nas rw,relatime shared:20 - nfs4 nas.local:/volume1/photos rw,vers=4.2
37 22 0:33 / /mnt/smb\040share rw,relatime shared:21 - cifs //nas/photos rw,vers=3.1.1
38 22 0:34 / /home/me/remote rw,nosuid,nodev,relatime - fuse.sshfs me@box:/srv/pics rw
39 36 8:2 / /mnt/nas/local-disk rw,relatime - ext4 /dev/sdb1 rw
"""


def test_the_filesystem_of_a_folder_is_read_from_the_mount_table() -> None:
    mounts = parse(MOUNTINFO)
    assert mount_of("/mnt/nas/2024/IMG_1.jpg", mounts).fstype == "nfs4"  # type: ignore[union-attr]
    assert mount_of("/mnt/nas/local-disk/x", mounts).fstype == "ext4"  # type: ignore[union-attr]
    assert mount_of("/mnt/nasty", mounts).point == "/"  # type: ignore[union-attr]
    assert network_mount("/mnt/smb share/2024", mounts).source == "//nas/photos"  # type: ignore[union-attr]
    assert network_mount("/home/me/remote/a", mounts).fstype == "fuse.sshfs"  # type: ignore[union-attr]
    assert network_mount("/home/me/Pictures", mounts) is None
    assert network_mount("/mnt/nas/local-disk/a", mounts) is None


def test_a_sqlite_job_table_on_a_share_is_refused_with_the_reason(tmp_path: Path) -> None:
    mounts = parse(MOUNTINFO)
    with pytest.raises(
        OSError, match=r"network filesystem \(nfs4, nas.local:/volume1/photos\).*PostgreSQL"
    ):
        refuse_share(Path("/mnt/nas/.state/visionati-sync.db"), mounts)
    refuse_share(tmp_path / "jobs.db", mounts)  # a local disk: fine


def test_folders_only_a_scan_sees_are_tagged_within_one_interval(
    library: Library, control: EmulatorControl
) -> None:
    library.configure(watch={"mode": "scan", "network_scan_interval": 3, "rescan_interval": 0})
    with library.daemon() as daemon:
        wait_until(lambda: daemon.logged("scanning folder on a schedule (watch.mode: scan)"), 20)
        samples.write_library(library.photos, 2)
        library.wait_for("done", 2, timeout=30)
        assert daemon.logged("periodic rescan")


def can_mount() -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    probe = Path("/tmp") / f"vsync-mount-probe-{os.getpid()}"
    probe.mkdir(exist_ok=True)
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "none", str(probe)], capture_output=True)
        if ok.returncode == 0:
            subprocess.run(["umount", str(probe)], check=True)
        return ok.returncode == 0
    finally:
        probe.rmdir()


@pytest.mark.skipif(not can_mount(), reason="mounting needs root and a kernel that lets us")
def test_a_share_that_is_not_mounted_is_never_read_as_deleted_files(
    library: Library, control: EmulatorControl
) -> None:
    share = library.photos
    subprocess.run(["mount", "-t", "tmpfs", "none", str(share)], check=True)
    try:
        images = samples.write_library(share, 3)
        kept = {p.name: p.read_bytes() for p in images}
        assert library.cli("scan").returncode == 0
        uploads = len(control.uploads())
        subprocess.run(["umount", str(share)], check=True)  # the share goes away
        result = library.cli("scan")
        assert result.returncode == 0, result.stderr
        assert library.counts()["done"] == 3  # nothing forgotten
        subprocess.run(["mount", "-t", "tmpfs", "none", str(share)], check=True)  # back
        for name, data in kept.items():
            (share / name).write_bytes(data)
            os.utime(share / name, (1_700_000_000, 1_700_000_000))
        assert library.cli("scan").returncode == 0
        assert len(control.uploads()) == uploads  # the same files, not paid again
        assert library.counts()["done"] == 3
    finally:
        subprocess.run(["umount", str(share)], capture_output=True)
