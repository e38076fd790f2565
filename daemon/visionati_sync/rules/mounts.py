"""Which filesystem a folder lives on, and what that means for watching it: a pure reading of
``/proc/self/mountinfo``'s text. inotify sees nothing another machine writes to an NFS or SMB
share (watchdog #1005), so a folder on a network filesystem is also scanned on a schedule
(``watch.network_scan_interval``); SQLite's locking is not safe there (SQLite's own FAQ), so a
job table on one is refused."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

NETWORK_TYPES = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre"}
    | {"davfs", "fuse.sshfs", "fuse.rclone", "fuse.glusterfs", "fuse.s3fs", "fuse.davfs"}
)


@dataclass(frozen=True)
class Mount:
    point: str
    fstype: str
    source: str

    @property
    def network(self) -> bool:
        """Whether other machines may write here unseen (FUSE counts: sshfs, rclone...)."""
        return self.fstype in NETWORK_TYPES or self.fstype.startswith("fuse.")


def parse(mountinfo: str) -> list[Mount]:
    """Given the text of ``/proc/self/mountinfo``, each mount (later ones over earlier)."""
    mounts = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        dash = fields.index("-")
        if len(fields) < dash + 3 or len(fields) < 5:
            continue
        point = _unescape(fields[4])
        mounts.append(Mount(point, fields[dash + 1], _unescape(fields[dash + 2])))
    return mounts


def mount_of(path: str, mounts: Sequence[Mount]) -> Mount | None:
    """Given an absolute path, the mount it lies on (the last, deepest one that holds it)."""
    found: Mount | None = None
    for mount in mounts:
        inside = path == mount.point or path.startswith(mount.point.rstrip("/") + "/")
        if inside and (found is None or len(mount.point) >= len(found.point)):
            found = mount
    return found


def read_mounts() -> list[Mount]:
    """This process's mounts (none where there is no ``/proc``: every folder counts as local)."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as handle:
            return parse(handle.read())
    except OSError:
        return []


def network_mount(path: str, mounts: Sequence[Mount] | None = None) -> Mount | None:
    """Given a path, the network filesystem it lies on, or None when it is local."""
    found = mount_of(os.path.realpath(path), read_mounts() if mounts is None else mounts)
    return found if found is not None and found.network else None


def _unescape(field: str) -> str:
    """mountinfo writes a space, tab, newline and backslash in octal (``\\040``)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field
