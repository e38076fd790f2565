"""The warm helper behind quick commands (`status`, `jobs`, `costs`): one process per user
that has loaded the command line, SQLAlchemy and the config's models once, listening on a
socket named for this user and state directory (``cli.address``; it serves only this
user's commands). For each command the
entry point (``cli``) sends its arguments, environment, folder and its own stdin, stdout and
stderr; the helper forks, and the child runs the very same command in those, writing straight
to the user's terminal, then says its exit status. A command's own code is unchanged: the
fork only skips the loading. The helper ends after ``VISIONATI_SYNC_HELPER_IDLE`` seconds
(600) with nothing to do, or when the installed code changes (a command then runs in its own
process and starts a fresh helper).

Single-threaded on purpose: forking a process that runs other threads could copy a lock
held mid-way; this one does nothing but wait and fork.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import signal
import socket
import struct
import sys
import time

from ..cli import STALE, address, code_stamp, exactly
from ..places import state_directory

IDLE_ENV = "VISIONATI_SYNC_HELPER_IDLE"
MAX_MESSAGE = 1 << 20


def start() -> None:
    """After a quick command ran in its own process: a helper for the next one, unless one
    answers already (started detached: it outlives this command)."""
    from ..renditions import tools

    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as probe:
        probe.settimeout(0.5)
        probe.connect(address())
        return  # one runs
    state = str(state_directory())
    tools.start_helper([sys.executable, "-m", "visionati_sync.commands.helper", state])


def serve(state: str) -> None:
    """Answer at this user's and state directory's address until idle or out of date."""
    from ..actions import ledger, status  # noqa: F401
    from ..jobtable import JobTable  # noqa: F401
    from . import main as command_line  # the loading this process exists for
    from . import reading  # noqa: F401

    stamp = code_stamp()
    idle = float(os.environ.get(IDLE_ENV, "600"))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(address(state))
    except OSError:  # taken: another helper answers there
        listener.close()
        return
    listener.listen(16)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children reaped by the kernel
    last = time.monotonic()
    with listener:
        while time.monotonic() - last < idle:
            ready, _, _ = select.select([listener], [], [], min(idle, 5.0))
            if not ready:
                continue
            connection, _ = listener.accept()
            last = time.monotonic()
            if not _same_user(connection):
                connection.close()
                continue
            if os.fork() == 0:
                listener.close()
                os._exit(_run(connection, stamp, command_line))
            connection.close()


def _same_user(connection: socket.socket) -> bool:
    """Only this user's commands: the peer's uid, as the kernel vouches for it."""
    creds = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", creds)
    return bool(uid == os.getuid())


def _run(connection: socket.socket, stamp: int, command_line: object) -> int:
    """In the forked child: become the command's process, run it, say its status."""
    try:
        data, fds, _, _ = socket.recv_fds(connection, MAX_MESSAGE, 3)
        (size,) = struct.unpack("!I", data[:4])
        rest = exactly(connection, size - len(data) + 4)
        if rest is None:
            return 1
        request = json.loads(data[4:] + rest)
        if request.get("stamp") != stamp or len(fds) != 3:
            connection.sendall(struct.pack("!i", STALE))
            os.kill(os.getppid(), signal.SIGTERM)  # out of date: the next command starts anew
            return 0
        for number, fd in enumerate(fds):
            os.dup2(fd, number)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"], VISIONATI_SYNC_HELPER="off")  # it is the helper
        time.tzset()
        sys.stdin = io.TextIOWrapper(open(0, "rb", closefd=False))  # noqa: SIM115
        for number, name in ((1, "stdout"), (2, "stderr")):
            stream = io.TextIOWrapper(open(number, "wb", closefd=False),  # noqa: SIM115
                                      line_buffering=os.isatty(number))  # fmt: skip
            setattr(sys, name, stream)
        status = 0
        try:
            command_line.main(  # type: ignore[attr-defined]
                args=request["argv"], prog_name="visionati-sync", standalone_mode=True
            )
        except SystemExit as done:
            status = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        connection.sendall(struct.pack("!i", status))
        return 0
    except Exception:  # the command could not be run here: the entry point runs it itself
        return 1
    finally:
        connection.close()


if __name__ == "__main__":
    serve(sys.argv[1])
