"""A throwaway PostgreSQL server from Debian's packages, for the tests, the fleet benchmark
and `make demo-cluster`: a new cluster in a temporary folder, on a free loopback port, gone
when stopped.

PostgreSQL refuses to run as root, so as root the cluster belongs to ``nobody``. Durability is
traded for speed (``fsync=off``): nothing here outlives the process that made it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

NOBODY = 65534  # Debian's nobody:nogroup
SUPERUSER = "postgres"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server programs here; the message says which package brings them."""


def server_programs() -> Path:
    """The folder holding ``initdb`` and ``postgres`` (the newest Debian installs)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PostgresUnavailable(
        "no PostgreSQL server programs (initdb, postgres): install Debian's `postgresql` "
        "package (scripts/system-deps.sh does)"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """A private PostgreSQL cluster; ``url(name)`` is a SQLAlchemy URL for one database."""

    def __init__(self) -> None:
        self.bin = server_programs()
        self.root = Path(tempfile.mkdtemp(prefix="visionati-sync-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def _as_owner(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]

    def start(self, timeout: float = 60.0, *, standby_of: PostgresServer | None = None) -> Self:
        """Make the cluster and start the server; return once it takes connections. With
        ``standby_of``, the cluster is a copy of that server's, kept up to date by streaming
        replication: a hot standby, which reads and takes no writes until ``promote``."""
        if os.geteuid() == 0:
            os.chown(self.root, NOBODY, NOBODY)
        if standby_of is None:
            make = [str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                    "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]  # fmt: skip
        else:
            make = [str(self.bin / "pg_basebackup"), "-D", str(self.data), "-h", "127.0.0.1",
                    "-p", str(standby_of.port), "-U", SUPERUSER, "-R", "--no-sync",
                    "--checkpoint=fast"]  # fmt: skip
        subprocess.run([*self._as_owner(), *make], check=True, capture_output=True, cwd=self.root)
        for _ in range(5):  # another program may take the free port first: take another
            if self._serve(timeout):
                return self
            self.port = free_port()
        raise RuntimeError(f"PostgreSQL did not start: {self.log_tail()}")

    def promote(self) -> None:
        """A standby becomes a primary, as in a failover: it takes writes from now on."""
        self.execute("SELECT pg_promote()")

    def _serve(self, timeout: float) -> bool:
        """Start the server on ``self.port``; True once it takes connections, False when
        the port was taken."""
        log = (self.root / "server.log").open("ab")
        self.process = subprocess.Popen(
            [*self._as_owner(), str(self.bin / "postgres"), "-D", str(self.data),
             "-p", str(self.port), "-k", str(self.root),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
             "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=300"],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.root, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                if "already in use" in self.log_tail() or "could not bind" in self.log_tail():
                    return False
                raise RuntimeError(f"PostgreSQL did not start: {self.log_tail()}")
            try:
                if self._answering() != str(self.data):  # another server on that port
                    self.process.terminate()
                    self.process.wait(30)
                    return False
                return True
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.1)

    def _answering(self) -> str:
        """The data folder of the server that answers on ``self.port``."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres",
            connect_timeout=5,
        ) as conn:  # fmt: skip
            row = conn.execute("SELECT current_setting('data_directory')").fetchone()
            return str(row[0]) if row else ""

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run one statement outside a transaction (CREATE DATABASE needs that)."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=database,
            autocommit=True, connect_timeout=5,
        ) as conn:  # fmt: skip
            conn.execute(sql.encode())

    def create_database(self, name: str, template: str | None = None) -> str:
        """Make a database (a copy of ``template``, if given); return its URL."""
        copy = f' TEMPLATE "{template}"' if template else ""
        self.execute(f'CREATE DATABASE "{name}"{copy}')
        return self.url(name)

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            text = (self.root / "server.log").read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""

    def halt(self) -> None:
        """Stop the server as an operator would for a minor upgrade (a fast shutdown: its
        clients are disconnected), keeping the cluster for ``resume``."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast": clients are disconnected
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def resume(self, timeout: float = 60.0) -> None:
        """Start the halted server again, on the same port, once it takes connections."""
        if not self._serve(timeout):
            raise RuntimeError(f"PostgreSQL could not take its port {self.port} again")

    def stop(self) -> None:
        """Stop the server (a fast shutdown) and remove the cluster."""
        self.halt()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self if self.process is not None else self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
