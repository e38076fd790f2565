"""Serving the pages: uvicorn over a socket bound first (so port 0 picks a free port and
the guard knows it), in the foreground for `visionati-sync ui`, or in a thread beside the
daemon's stages (``ui.listen``). Its own logging is left off: ours says what matters."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import uvicorn

from ..config import Config
from ..jobtable import JobTable
from ..log import get_logger
from .app import Site, build
from .guard import Guard
from .thumbnails import Thumbnails

log = get_logger("web")


class WebServer:
    def __init__(self, table: JobTable, config: Config, listen: str, state: Path) -> None:
        host, _, port = listen.rpartition(":")
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.socket.bind((host, int(port)))
            self.socket.listen(128)  # taking connections now: the address printed works at once
        except OSError as exc:
            self.socket.close()
            raise OSError(exc.errno, f"the review page cannot listen on {listen}: "
                          f"{exc.strerror}") from None  # fmt: skip
        self.guard = Guard(host, self.socket.getsockname()[1], config.secret("ui"))
        self.thumbnails = Thumbnails(state / "thumbnails", config.settings.renditions())
        app = build(Site(table, config, self.guard, self.thumbnails))
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, log_config=None, access_log=False, lifespan="off", server_header=False
            )
        )
        self.address_file = state / "ui-address"
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        return self.guard.address

    def announce(self) -> None:
        """Leave the address (with its token) where its user finds it: the state directory,
        readable by this user alone."""
        self.address_file.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(self.address_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(handle, "w") as out:
            out.write(self.address + "\n")

    def serve(self) -> None:
        """In the foreground, until SIGINT or SIGTERM (uvicorn handles them)."""
        self.announce()
        self.server.run(sockets=[self.socket])

    def start(self) -> None:
        """In a thread of its own, beside the daemon; returns once it accepts requests."""
        self.announce()
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, name="web", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        log.info("review page and dashboard served", address=self.address,
                 also_in=str(self.address_file))  # fmt: skip

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
