"""The entry point installed as `visionati-sync` (``visionati_sync.cli:main``); the command
line lives in ``commands/``.

A command that only reads (`status`, `jobs`, `costs`) spends most of its time loading
SQLAlchemy and the config's models, not reading. So when a warm helper of this user runs
(``commands/helper``: everything loaded, a fresh process forked for each command), this
entry point hands it the command — its arguments, environment, folder and this terminal's
own stdin, stdout and stderr — and exits with its status, having loaded nothing heavy
itself. No helper, an older one, or ``VISIONATI_SYNC_HELPER=off``: the command runs here,
as always, and starts a helper for the next one (see README "Quick commands").
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import socket
import struct
import sys

from .places import state_directory

QUICK = frozenset({"status", "jobs", "costs"})  # what a helper answers
HELPER_ENV = "VISIONATI_SYNC_HELPER"
STALE = 254  # the helper's code is not this code: run here


def address(state: str | None = None) -> str:
    """The helper's socket: an abstract one (Linux; no file to leave behind, no length limit
    of a path), named for this user and state directory. The helper serves only callers of
    its own user id, as the kernel vouches for them."""
    place = f"{os.getuid()}:{state if state is not None else state_directory()}"
    return "\0visionati-sync-helper-" + hashlib.sha256(place.encode()).hexdigest()[:32]


def verb(argv: list[str]) -> str | None:
    """The command named by ``argv`` (after ``-c FILE`` / ``--config FILE``), if any."""
    rest = list(argv)
    while rest and rest[0].startswith("-"):
        flag = rest.pop(0)
        if flag in ("-c", "--config") and rest:
            rest.pop(0)
        elif not flag.startswith("--config="):
            return None  # --help, --version: answered here, quickly
    return rest[0] if rest else None


def helping() -> bool:
    """Whether quick commands use (and start) a warm helper: yes, unless told not to."""
    return os.environ.get(HELPER_ENV, "on").lower() not in ("off", "0", "no", "false")


def code_stamp() -> int:
    """What tells this installation's code from another: the newest mtime of its modules."""
    newest = 0
    stack = [os.path.dirname(os.path.abspath(__file__))]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("__"):
                    stack.append(entry.path)
                elif entry.name.endswith(".py"):
                    newest = max(newest, entry.stat().st_mtime_ns)
    return newest


def handed_over(argv: list[str]) -> int | None:
    """Given the arguments, the exit status of the command as a helper ran it; None when it
    is for here to run (not a quick command, no helper, an older one)."""
    if verb(argv) not in QUICK or "-h" in argv or "--help" in argv or not helping():
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as helper:
            helper.settimeout(2.0)
            helper.connect(address())
            message = json.dumps({
                "argv": argv, "cwd": os.getcwd(), "env": dict(os.environ),
                "stamp": code_stamp(),
            }).encode()  # fmt: skip
            socket.send_fds(helper, [struct.pack("!I", len(message)) + message], [0, 1, 2])
            helper.settimeout(None)  # the command runs as long as it runs
            answer = exactly(helper, 4)
    except OSError:
        return None
    if answer is None:
        return None
    (status,) = struct.unpack("!i", answer)
    return None if status == STALE else status


def exactly(connection: socket.socket, size: int) -> bytes | None:
    """Given a connection, the next ``size`` bytes from it (None: it closed before)."""
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def main() -> None:
    # Loading a command makes almost no garbage, and sweeping for it while importing is a
    # tenth of a command's start-up; a command turns the collector on once it has loaded
    # what it runs on (``loaded``), and short ones never need it.
    gc.disable()
    try:
        status = handed_over(sys.argv[1:])
    except KeyboardInterrupt:  # Ctrl-C while the helper ran it: as a command would end
        sys.exit(130)
    if status is not None:
        sys.exit(status)
    from .commands import main as commands

    try:
        commands()
    finally:  # the interpreter's last sweeps over everything loaded: a tenth of a second
        gc.freeze()


def loaded() -> None:
    """A command that may run for long has loaded what it runs on: the collector works from
    here on as usual, over what is made from now (what was loaded stays out of its sweeps,
    which also makes each sweep of a long run cheaper)."""
    gc.freeze()
    gc.enable()


__all__ = ["main"]
