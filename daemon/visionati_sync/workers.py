"""Who is doing the work: names for this process, and whether another one still runs.

Claims in the job table and temporary sidecar files both name their writer, so that what a
killed daemon left behind can be told from what another daemon is doing right now.
"""

from __future__ import annotations

import hashlib
import os
import socket

HOST = socket.gethostname()
HOST_TAG = hashlib.sha256(HOST.encode()).hexdigest()[:6]  # short enough for file names


def worker_name() -> str:
    """This process, as claims name it: ``host:pid``."""
    return f"{HOST}:{os.getpid()}"


def pid_alive(pid: int) -> bool:
    """Given a process id on this host, say whether it may still be running."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: running
        return True
    return True


def owner_alive(owner: str) -> bool:
    """Given a claim's owner ``host:pid``, say whether it may still be running. Another
    machine's claims are left to that machine."""
    host, _, pid = owner.rpartition(":")
    return host != HOST or not pid.isdigit() or pid_alive(int(pid))
