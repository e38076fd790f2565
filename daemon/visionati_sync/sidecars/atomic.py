"""Atomic file replacement: the only place sidecars touch the disk.

A temporary file in the same folder (hidden, so watchers skip it), made durable, renamed over
the target, the folder synced. A reader sees the old file or the new one, never half of one,
and after a power cut the name never points at bytes that did not reach the disk.

``WriteBatch`` does the same for many files with two flushes in all instead of two per file:
every temporary file is written, one ``syncfs`` makes them all durable, then each is renamed,
then each folder is synced once.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import functools
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..files import NotPlain, describe, open_plain
from ..workers import HOST_TAG, pid_alive

# Temporary files name their writer (a hash of the host, the pid), so that one left by a
# killed daemon can be told from one another daemon is writing right now.
TEMP_SUFFIX = f".{HOST_TAG}-{os.getpid()}.vs-tmp"
_TEMP = re.compile(r"^\..+\.([0-9a-f]{6})-(\d+)\.vs-tmp$")
STALE_AFTER = 24 * 3600
# what a write's OSError says about the future: these will not pass by themselves
_LASTING = frozenset({errno.ENAMETOOLONG, errno.EISDIR, errno.ENOTDIR, errno.ELOOP, errno.EINVAL})
NOT_A_SIDECAR = "sidecars are never read or written through it; left as it is"
# the permission check as this process will write (effective ids), where the OS offers it
_EFFECTIVE = {"effective_ids": True} if os.access in os.supports_effective_ids else {}


def is_stale_temp(name: str, mtime: float, now: float) -> bool:
    """Given a file's name and mtime, say whether it is a temporary file of ours whose
    writer is gone (a daemon on this host that is not running, or a day has passed)."""
    match = _TEMP.match(name)
    if match is None:
        return False
    host, pid = match.group(1), int(match.group(2))
    if now - mtime > STALE_AFTER:
        return True
    return host == HOST_TAG and not pid_alive(pid)


class SidecarError(Exception):
    """A sidecar could not be written; the message names the file and the reason.
    ``transient``: the disk or the folder refused (full, read-only, permissions), which may
    pass by itself; otherwise the sidecar itself is the problem (a link, unparseable)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class ChangedUnderneath(SidecarError):
    """The file changed between our read and our rename: read and merge again."""


@dataclass(frozen=True)
class Snapshot:
    """What a file held when we read it, to detect a concurrent writer before we rename."""

    content: bytes | None  # None: the file did not exist

    @classmethod
    def read(cls, path: Path, limit: int | None = None) -> Snapshot:
        """Given a sidecar's path, what it holds; never read through a link (it could show
        another user's file), never from a special file."""
        try:
            with open_plain(path) as handle:
                data = handle.read() if limit is None else _read_to(handle, limit)
        except FileNotFoundError:
            return cls(None)
        except NotPlain as exc:
            raise SidecarError(f"{path}: {exc}; {NOT_A_SIDECAR}") from None
        except OSError as exc:
            raise SidecarError(f"{path}: cannot read: {exc.strerror}", transient=True) from None
        if limit is not None and len(data) > limit:
            raise SidecarError(f"{path}: larger than {limit} bytes; left as it is")
        return cls(data)


def _read_to(handle: Any, limit: int) -> bytes:
    """Up to ``limit`` + 1 bytes (one more says it is too large), asking for a buffer of
    the file's size, not the limit's: a sidecar is kilobytes, the limit megabytes."""
    wanted = min(limit, os.fstat(handle.fileno()).st_size) + 1
    data: bytes = handle.read(wanted)
    if len(data) == wanted and wanted <= limit:  # it grew since: read on to the limit
        data += handle.read(limit + 1 - wanted)
    return data


@dataclass(frozen=True)
class Planned:
    """A write decided but not done: where, what, and (for a merge) what the file held when
    it was read, so a concurrent writer is noticed before the rename."""

    path: Path
    content: bytes
    expected: Snapshot | None = None
    note: str | None = None


def check_target(path: Path) -> os.stat_result | None:
    """Given where a sidecar goes, what is there now (None: nothing yet). Raises
    SidecarError unless it is a regular file this daemon may replace: never a link (written
    through, it would change someone else's file), a directory or another special file, or
    a file whose permissions keep us out."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    if not stat.S_ISREG(info.st_mode):
        raise SidecarError(f"{path}: {describe(info.st_mode)}; {NOT_A_SIDECAR}")
    if not os.access(path, os.W_OK, **_EFFECTIVE):
        raise SidecarError(f"{path}: not writable by this daemon's user; left as it is")
    return info


def _cannot_write(path: Path, exc: OSError) -> SidecarError:
    """A write the OS refused: transient (a full disk, a read-only mount, permissions) unless
    the refusal is about the name or the place itself."""
    lasting = exc.errno in _LASTING
    return SidecarError(f"{path}: cannot write: {exc.strerror}", transient=not lasting)


def name_max(folder: Path) -> int:
    """The longest file name, in bytes, the file system under ``folder`` takes (asked once
    per folder: a backfill writes thousands of sidecars into each)."""
    return _name_max(str(folder))


@functools.lru_cache(maxsize=1024)
def _name_max(folder: str) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def folder_writable(folder: Path) -> bool:
    """Whether this process may create files in ``folder`` (permissions, a read-only mount)."""
    return os.access(folder, os.W_OK | os.X_OK, **_EFFECTIVE)


def _temp_prefix(path: Path) -> str:
    """A temporary file is named after its sidecar when that fits the file system, else
    shortly: a name the file system takes must never fail for its temporary's sake."""
    prefix = f".{path.name}."
    if len(os.fsencode(prefix)) + 8 + len(TEMP_SUFFIX) <= name_max(path.parent):
        return prefix  # 8: mkstemp's random part
    return ".vs."


def _write_temp(path: Path, data: bytes) -> str:
    """Write ``data`` to a hidden temporary file beside ``path`` with ``path``'s mode and
    owner (a new sidecar: what the umask leaves of rw-rw-rw-, as any program's new file);
    return its name. Durable only once ``_make_durable`` has run."""
    info = check_target(path)
    tmp_name = None
    try:
        fd, tmp_name = _create_temp(path, 0o600 if info is not None else 0o666)
        try:
            if info is not None:
                os.fchmod(fd, stat.S_IMODE(info.st_mode))
                if os.geteuid() == 0:  # root keeps the user's file the user's
                    with contextlib.suppress(OSError):
                        os.fchown(fd, info.st_uid, info.st_gid)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    except OSError as exc:
        _unlink(tmp_name)
        raise _cannot_write(path, exc) from None
    return tmp_name


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _create_temp(path: Path, mode: int) -> tuple[int, str]:
    """A new hidden file beside ``path``, named for it and for this writer (the name is
    never one that exists: O_EXCL)."""
    prefix = os.path.join(str(path.parent), _temp_prefix(path))
    for _ in range(100):
        name = f"{prefix}{os.urandom(4).hex()}{TEMP_SUFFIX}"
        try:
            return os.open(name, _CREATE, mode), name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", prefix)


def _install(tmp_name: str, path: Path, expected: Snapshot | None) -> None:
    """Rename the temporary file over ``path``, unless ``path`` changed since it was read."""
    changed = ChangedUnderneath(f"{path}: changed while we were writing; merging again")
    try:
        if expected is not None and expected.content is not None:
            if Snapshot.read(path) != expected:
                raise changed
            check_target(path)  # nobody put a link or a folder there meanwhile
        elif check_target(path) is not None and expected is not None:
            raise changed  # a file where there was none: another program's new sidecar
        os.replace(tmp_name, path)
    except (OSError, SidecarError) as exc:
        _unlink(tmp_name)
        if isinstance(exc, SidecarError):
            raise
        raise _cannot_write(path, exc) from None


def write_with_retry(plan: Callable[[], list[Planned]], attempts: int = 5) -> list[Planned]:
    """Given how to decide some writes (read, merge), make them; if a photo manager rewrote
    one of the files meanwhile, read and decide again, rather than overwrite its write."""
    for _ in range(attempts):
        plans = plan()
        batch = WriteBatch()
        batch.stage_all(plans)
        errors = [error for error in batch.commit().values() if error is not None]
        if not errors:
            return plans
        for error in errors:
            if not isinstance(error, ChangedUnderneath):
                raise error
    raise SidecarError(
        f"{plans[0].path}: keeps changing while we write; left as it is", transient=True
    )


@dataclass
class _Staged:
    path: Path
    tmp_name: str
    expected: Snapshot | None


WITHDRAWN = SidecarError("the write is no longer this process's to make; nothing was put in place")


class WriteBatch:
    """Atomic replacements of many files, made durable together."""

    def __init__(self) -> None:
        self._staged: list[_Staged] = []

    def stage(self, path: Path, data: bytes, expected: Snapshot | None = None) -> None:
        """Write the new bytes beside ``path``; nothing is replaced until ``commit``."""
        if expected is not None and expected.content == data:
            return
        self._staged.append(_Staged(path, _write_temp(path, data), expected))

    def stage_all(self, plans: list[Planned]) -> None:
        """Stage every planned write, or none: a failure unstages what these plans staged."""
        before = len(self._staged)
        try:
            for planned in plans:
                self.stage(planned.path, planned.content, planned.expected)
        except SidecarError:
            for item in self._staged[before:]:
                _unlink(item.tmp_name)
            del self._staged[before:]
            raise

    def commit(
        self, still: Callable[[], set[Path]] | None = None
    ) -> dict[Path, SidecarError | None]:
        """Make every staged file durable, then, if ``still`` says which targets may still
        be written (asked once, just before renaming: the job may have been untagged, or
        taken by another daemon, meanwhile), rename each into place (unless its target
        changed meanwhile), sync the folders; return each target's outcome (``WITHDRAWN``
        for a write ``still`` left out: nothing of it was put in place)."""
        staged, self._staged = self._staged, []
        outcomes: dict[Path, SidecarError | None] = {}
        try:
            _make_durable([s.tmp_name for s in staged])
        except OSError as exc:
            for item in staged:
                _unlink(item.tmp_name)
                outcomes[item.path] = SidecarError(
                    f"{item.path}: cannot write: {exc.strerror}", transient=True
                )
            return outcomes
        allowed = still() if still is not None else {item.path for item in staged}
        for item in [item for item in staged if item.path not in allowed]:
            _unlink(item.tmp_name)
            outcomes[item.path] = WITHDRAWN
        staged = [item for item in staged if item.path in allowed]
        for item in staged:
            try:
                _install(item.tmp_name, item.path, item.expected)
                outcomes[item.path] = None
            except SidecarError as exc:
                outcomes[item.path] = exc
        sync_directories({item.path.parent for item in staged if outcomes[item.path] is None})
        return outcomes


def _syncfs() -> object | None:
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name, use_errno=True) if name else None
    return getattr(libc, "syncfs", None)


_SYNCFS = _syncfs()


def _make_durable(tmp_names: list[str]) -> None:
    """For several files on a filesystem, one syncfs where Linux offers it; for one file, or
    without syncfs, an fsync per file."""
    by_device: dict[int, list[str]] = {}
    devices: dict[str, int] = {}  # a folder's device, asked once per folder
    for name in tmp_names:
        folder = os.path.dirname(name)
        if folder not in devices:
            devices[folder] = os.stat(folder).st_dev
        by_device.setdefault(devices[folder], []).append(name)
    for names in by_device.values():
        if len(names) > 1 and _SYNCFS is not None and _call_on(names[0], _SYNCFS) == 0:
            continue
        for name in names:
            _call_on(name, os.fsync)


def _call_on(name: str, function: Any) -> Any:
    fd = os.open(name, os.O_RDONLY)
    try:
        return function(fd)
    finally:
        os.close(fd)


def sync_directories(folders: set[Path]) -> None:
    """Make renames into these folders durable: one fsync per folder, not per file."""
    for folder in folders:
        _fsync_dir(folder)


def _unlink(name: str | None) -> None:
    if name is not None:
        with contextlib.suppress(OSError):
            os.unlink(name)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove(path: Path, expected: Snapshot) -> None:
    """Delete a sidecar of ours, unless it changed since it was read (``expected``): then
    a photo manager wrote to it, and ChangedUnderneath says to read and decide again."""
    if Snapshot.read(path).content != expected.content:
        raise ChangedUnderneath(f"{path}: changed while we read it")
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise SidecarError(f"{path}: cannot remove: {exc.strerror}", transient=True) from None
    _fsync_dir(path.parent)
