"""Where this program keeps its own files on this machine. Light on purpose: the entry point
reads it before anything else is loaded."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def state_directory(environ: Mapping[str, str] = os.environ) -> Path:
    """Given the environment, return where the daemon keeps its database.

    systemd's StateDirectory= sets $STATE_DIRECTORY; otherwise the XDG location.
    """
    if environ.get("STATE_DIRECTORY"):
        return Path(environ["STATE_DIRECTORY"].split(":")[0])
    if environ.get("XDG_STATE_HOME"):
        return Path(environ["XDG_STATE_HOME"]) / "visionati-sync"
    return Path(environ.get("HOME", "~")).expanduser() / ".local/state/visionati-sync"
