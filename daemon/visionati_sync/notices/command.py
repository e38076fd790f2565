"""``notify.command``: the user's own program, told which files were written. The written
paths come NUL-separated on its stdin (``xargs -0`` reads them); the details, as JSON
``{"files": [{"file", "written", "created"}]}``, in ``$VISIONATI_SYNC_NOTICE`` (when they
fit in an environment variable) and always in the file ``$VISIONATI_SYNC_NOTICE_FILE``."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence

from ..config.notify import CommandNotifier
from ..renditions.tools import ToolError, run_program
from .http import NoticeError
from .outbox import Written

ENV_LIMIT = 100_000  # bytes; Linux takes at most 128 KiB in one variable


class Command:
    name = "command"

    def __init__(self, settings: CommandNotifier) -> None:
        self.settings = settings

    def send(self, entries: Sequence[Written]) -> str:
        paths = [path for entry in entries for path in entry.written]
        stdin = b"".join(os.fsencode(path) + b"\0" for path in paths)
        details = json.dumps({"files": [entry.as_dict() for entry in entries]})
        with tempfile.NamedTemporaryFile("w", prefix="visionati-notice-", suffix=".json") as f:
            f.write(details)
            f.flush()
            env = {"VISIONATI_SYNC_NOTICE_FILE": f.name}
            if len(details) <= ENV_LIMIT:
                env["VISIONATI_SYNC_NOTICE"] = details
            try:
                run_program(self.settings.run, stdin, env, self.settings.timeout)
            except ToolError as exc:
                raise NoticeError(str(exc), permanent=exc.missing) from None
        return f"ran {self.settings.run[0]} with {len(paths)} paths"
