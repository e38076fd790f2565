"""Atomic file replacement: the only place sidecars touch the disk.

A temporary file in the same folder (hidden, so watchers skip it), fsync, rename over the
target, fsync the folder. A reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path


class SidecarError(Exception):
    """A sidecar could not be written; the message names the file and the reason."""


class ChangedUnderneath(SidecarError):
    """The file changed between our read and our rename: read and merge again."""


@dataclass(frozen=True)
class Snapshot:
    """What a file held when we read it, to detect a concurrent writer before we rename."""

    content: bytes | None  # None: the file did not exist

    @classmethod
    def read(cls, path: Path, limit: int | None = None) -> Snapshot:
        try:
            with path.open("rb") as handle:
                data = handle.read() if limit is None else handle.read(limit + 1)
        except FileNotFoundError:
            return cls(None)
        except OSError as exc:
            raise SidecarError(f"{path}: cannot read: {exc.strerror}") from None
        if limit is not None and len(data) > limit:
            raise SidecarError(f"{path}: larger than {limit} bytes; left as it is")
        return cls(data)


def write_atomic(path: Path, data: bytes, expected: Snapshot | None = None) -> bool:
    """Given a target and its new bytes, replace it atomically; keep its permissions.

    With ``expected``, raise ChangedUnderneath instead of replacing a file that no longer
    holds what we read. Returns False (and writes nothing) when the bytes are unchanged.
    """
    if expected is not None and expected.content == data:
        return False
    owner: tuple[int, int] | None = None
    try:
        info = path.stat()
        mode, owner = stat.S_IMODE(info.st_mode), (info.st_uid, info.st_gid)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    except OSError as exc:
        raise SidecarError(f"{path}: cannot write: {exc.strerror}") from None
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".vs-tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        if owner is not None and os.geteuid() == 0:  # root keeps the user's file the user's
            with contextlib.suppress(OSError):
                os.chown(tmp_name, *owner)
        if expected is not None and Snapshot.read(path) != expected:
            raise ChangedUnderneath(f"{path}: changed while we were writing; merging again")
        os.replace(tmp_name, path)
        tmp_name = None
        _fsync_dir(path.parent)
    except OSError as exc:
        raise SidecarError(f"{path}: cannot write: {exc.strerror}") from None
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
    return True


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
