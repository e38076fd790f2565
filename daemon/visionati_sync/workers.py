"""Who is doing the work: an identity for each process start, and, on this machine, whether
the process behind an identity has gone.

Claims in the job table name their worker by a random id drawn at each start, never by host
and pid: a container restarted as PID 1 under the same host name, or two machines cloned
with one host name, are different workers. Whether a worker lives is its heartbeat lease in
the job table (``jobtable.workers``), by the database's clock. A process also holds a lock
on a file named for its id in the state directory (``Presence``): the kernel lets go of it
when the process ends, however it ends, so that the next start on this machine can give
back a killed worker's work at once instead of waiting for its lease.

Temporary sidecar files name their writer by host and pid (``HOST_TAG``): only to tell one
left by a killed daemon, which is removed after a day in any case.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path

HOST = socket.gethostname()
HOST_TAG = hashlib.sha256(HOST.encode()).hexdigest()[:6]  # short enough for file names


@dataclass(frozen=True)
class Worker:
    """One process start: ``id`` names its claims; ``host`` and ``pid`` are for people."""

    id: str = field(default_factory=lambda: secrets.token_hex(8))
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)

    @property
    def shown(self) -> str:
        """How logs and `status` name it: host, pid and the start of its id."""
        return f"{self.host}:{self.pid} ({self.id[:6]})"


def pid_alive(pid: int) -> bool:
    """Given a process id on this host, say whether it may still be running (for the
    temporary files' names only: a pid says nothing of who holds a claim)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: running
        return True
    return True


class Presence:
    """Given a folder in the state directory, the workers of this machine that use it: each
    holds an exclusive lock on ``<id>.lock`` for as long as it runs. A lock that can be
    taken belongs to a worker that has ended (killed, crashed, or stopped)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._held: int | None = None
        self._holder = ""  # the id whose lock this process holds

    def hold(self, worker: Worker) -> None:
        """Say, for as long as this process runs, that ``worker`` is alive."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.folder / f"{worker.id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new random name: never taken
        self._held, self._holder = fd, worker.id

    @property
    def holding(self) -> bool:
        return self._held is not None

    def running(self, worker_id: str) -> bool:
        """Whether the worker whose lock this is still runs on this machine (False for one
        this folder does not know: it ended, and was forgotten)."""
        try:
            fd = os.open(self.folder / f"{worker_id}.lock", os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            return True  # held: it runs
        finally:
            os.close(fd)  # (a lock taken here goes with the descriptor)
        return worker_id == self._holder

    def gone(self) -> list[str]:
        """The ids of the workers that used this folder and have ended (until forgotten)."""
        if not self.folder.is_dir():
            return []
        ids = sorted(path.stem for path in self.folder.glob("*.lock"))
        return [worker_id for worker_id in ids if not self.running(worker_id)]

    def forget(self, worker_ids: list[str]) -> None:
        """Given ended workers whose work was given back, remove their lock files."""
        for worker_id in worker_ids:
            with contextlib.suppress(FileNotFoundError):
                (self.folder / f"{worker_id}.lock").unlink()

    def release(self, worker: Worker) -> None:
        """A clean stop: the lock file goes with the worker."""
        if self._held is not None:
            with contextlib.suppress(FileNotFoundError):
                (self.folder / f"{worker.id}.lock").unlink()
            os.close(self._held)
            self._held, self._holder = None, ""
