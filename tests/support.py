"""Helpers for tests that drive the real daemon: waiting on conditions with a deadline,
running the CLI as a subprocess, talking to the emulator's control API."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

import requests
import yaml
from sqlalchemy import create_engine, text

T = TypeVar("T")
KEY = "emulator-key"


def wait_until(
    predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def base_config(
    emulator_url: str, tmp: Path, folders: list[Any], **overrides: Any
) -> dict[str, Any]:
    """A config for tests: fast polls and settling, a database in the test's folder."""
    config: dict[str, Any] = {
        "api": {
            "base_url": emulator_url,
            "key": KEY,
            "poll_interval": 0.2,
            "timeout": 10,
            "retry_base_delay": 0.3,
            "retry_max_delay": 2,
        },
        "database": {"url": f"sqlite:///{tmp / 'state.db'}"},
        "folders": [f if isinstance(f, dict) else {"path": str(f)} for f in folders],
        "watch": {"settle_seconds": 0.5, "folder_retry_interval": 0.5},
    }
    for section, values in overrides.items():
        if isinstance(values, dict):
            config.setdefault(section, {}).update(values)
        else:
            config[section] = values
    return config


def clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VISIONATI", "STATE_DIR"))}
    env.update(HOME=str(tmp), XDG_STATE_HOME=str(tmp / "xdg-state"), PYTHONUNBUFFERED="1")
    env["VISIONATI_SYNC_HELPER"] = (
        "off"  # no warm helper left behind; tests/test_startup.py tries it
    )
    env.update(extra)
    return env


def drop_privileges() -> list[str]:
    """As root, a command prefix that runs without the capability to read or write any file:
    what is unreadable or read-only to a user must be so to the daemon, as for a user."""
    if os.geteuid() != 0:
        return []
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]


def cli(
    config: Path | None,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    wrapper: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``visionati-sync [-c config] args…`` to completion."""
    command = [*(wrapper or []), sys.executable, "-m", "visionati_sync"]
    if config is not None:
        command += ["-c", str(config)]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def cli_json(config: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    result = cli(config, *args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


class Daemon:
    """``visionati-sync run`` as a real subprocess, its log captured to a file."""

    def __init__(
        self,
        config: Path,
        log_path: Path,
        env: dict[str, str] | None = None,
        wrapper: list[str] | None = None,
    ) -> None:
        self.config = config
        self.log_path = log_path
        self._log = log_path.open("ab")
        command = [
            *(wrapper or []),
            sys.executable,
            "-m",
            "visionati_sync",
            "-c",
            str(config),
            "run",
        ]
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=env
        )

    def lines(self) -> list[dict[str, Any]]:
        records = []
        for raw in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                records.append(json.loads(raw))
            except ValueError:
                records.append({"event": raw})
        return records

    def logged(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        return [
            r
            for r in self.lines()
            if event in str(r.get("event", "")) and all(r.get(k) == v for k, v in fields.items())
        ]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.alive():
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:  # a hang: its threads' stacks say where
            self.process.send_signal(signal.SIGUSR1)
            time.sleep(1)
            stacks = self.log_path.read_text(errors="replace")[-6000:]
            raise AssertionError(f"the daemon did not stop in {timeout} s:\n{stacks}") from None
        finally:
            self._log.close()

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()


class EmulatorControl:
    """The emulator's control API, over HTTP like everything else."""

    def __init__(self, url: str) -> None:
        self.url = url

    def log(self) -> list[dict[str, Any]]:
        return requests.get(f"{self.url}/_emulator/log", timeout=10).json()

    def uploads(self) -> list[dict[str, Any]]:
        return [e for e in self.log() if e.get("path") == "/api/fetch" and e.get("request_id")]

    def requests(self) -> list[dict[str, Any]]:
        """Every request the API accepted: its files' hashes, whether it failed (the API's
        message) and whether it has completed."""
        return requests.get(f"{self.url}/_emulator/requests", timeout=10).json()  # type: ignore[no-any-return]

    def uploaded_hashes(self) -> list[str]:
        return [h for e in self.uploads() for h in e.get("sha256", [])]

    def settings(self, **values: Any) -> dict[str, Any]:
        return requests.post(f"{self.url}/_emulator/settings", json=values, timeout=10).json()

    def faults(self, *faults: dict[str, Any]) -> None:
        requests.post(f"{self.url}/_emulator/faults", json={"faults": list(faults)}, timeout=10)


class Library:
    """A user's photo folder, a config for it against the emulator, and the commands the user
    runs on it: the set-up every end-to-end test starts from (the ``library`` fixture)."""

    def __init__(self, tmp: Path, emulator_url: str) -> None:
        self.tmp = tmp
        self.url = emulator_url
        self.photos = tmp / "photos"
        self.photos.mkdir(exist_ok=True)
        self.config = tmp / "config.yaml"
        self.env = clean_env(tmp)
        self.configure()

    def configure(self, folders: list[Any] | None = None, **overrides: Any) -> Path:
        """(Re)write the config: the photo folder (or ``folders``: paths, or folder entries
        as the config has them), plus ``overrides`` by section."""
        folders = [self.photos] if folders is None else folders
        return write_config(self.config, base_config(self.url, self.tmp, folders, **overrides))

    def cli(
        self, *args: str, timeout: float = 120, as_user: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """A command, as the test's user, or (``as_user``) as an ordinary user would run it."""
        wrapper = drop_privileges() if as_user else None
        return cli(self.config, *args, env=self.env, timeout=timeout, wrapper=wrapper)

    def json(self, *args: str) -> Any:
        return cli_json(self.config, *args, env=self.env)

    def status(self) -> dict[str, Any]:
        return self.json("status")  # type: ignore[no-any-return]

    def counts(self) -> dict[str, int]:
        return self.status()["counts"]  # type: ignore[no-any-return]

    def jobs(self, *args: str) -> dict[str, dict[str, Any]]:
        """`jobs --json`, by file name."""
        return {Path(job["path"]).name: job for job in self.json("jobs", *args)}

    def wait_for(self, state: str, count: int, timeout: float = 30) -> dict[str, int]:
        """Wait until ``count`` files are in ``state``, as `status` says."""
        return wait_until(
            lambda: (c := self.counts())[state] == count and c,
            timeout, 0.2, f"{count} file(s) {state}",
        )  # fmt: skip

    def daemon(self, log: str = "daemon.log", wrapper: list[str] | None = None) -> Daemon:
        """``visionati-sync run`` on this library, as a subprocess."""
        return Daemon(self.config, self.tmp / log, self.env, wrapper)


def head_revision() -> str | None:
    """The newest migration, as Alembic reads the scripts (not the constant start-up uses)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from visionati_sync.jobtable.engine import migrations_directory

    config = Config()
    config.set_main_option("script_location", migrations_directory())
    return ScriptDirectory.from_config(config).get_current_head()


class NotifySocket:
    """What systemd listens on: every datagram the daemon sends, with when it came."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="vs-notify-"))  # short: sun_path is 108 bytes
        self.path = self.folder / "notify"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.setblocking(False)
        self.received: list[tuple[float, dict[str, str]]] = []

    def read(self) -> list[tuple[float, dict[str, str]]]:
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return self.received
            fields = dict(line.split("=", 1) for line in data.decode().splitlines())
            self.received.append((time.monotonic(), fields))

    def now(self) -> float:
        """Take in what has come so far, and return the time: what comes after is newer."""
        self.read()
        return time.monotonic()

    def with_key(self, key: str, since: float = 0.0) -> list[dict[str, str]]:
        return [fields for at, fields in self.read() if key in fields and at >= since]

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class Fleet:
    """A shared folder (mounted by each daemon at a path of its own, one name for all), a
    PostgreSQL job table, and the daemons' configs."""

    def __init__(self, tmp: Path, emulator_url: str, url: str, lease: float = 3.0) -> None:
        self.tmp, self.emulator_url, self.url, self.lease = tmp, emulator_url, url, lease
        self.share = tmp / "share"
        self.share.mkdir()
        self.stack = ExitStack()
        self.daemons: list[Daemon] = []

    def config(self, n: int, **overrides: Any) -> Path:
        mount = self.tmp / f"mount-{n}"  # each machine mounts the share where it likes
        if not mount.exists():
            mount.symlink_to(self.share, target_is_directory=True)
        data = base_config(
            self.emulator_url,
            self.tmp,
            [{"path": str(mount), "name": "studio share"}],
            database={"url": self.url, "lease_seconds": self.lease},
            log_level="debug",
            **overrides,
        )  # fmt: skip  (debug: each daemon's "tagged" and "uploaded" lines are counted)
        return write_config(self.tmp / f"daemon-{n}.yaml", data)

    def start(self, count: int, **overrides: Any) -> list[Daemon]:
        for n in range(len(self.daemons), len(self.daemons) + count):
            env = clean_env(self.tmp / f"home-{n}")
            daemon = Daemon(self.config(n, **overrides), self.tmp / f"daemon-{n}.log", env)
            self.daemons.append(self.stack.enter_context(daemon))
        return self.daemons

    def status(self) -> dict[str, Any]:
        return cli_json(self.tmp / "daemon-0.yaml", "status", env=clean_env(self.tmp))  # type: ignore[no-any-return]

    def done(self) -> int:
        return int(self.status()["counts"]["done"])

    def tagged(self) -> Counter[str]:
        """Sidecar writes, by file, over every daemon's log."""
        return Counter(
            Path(record["path"]).name
            for daemon in self.daemons
            for record in daemon.logged("tagged")
        )

    def rows(self, sql: str, **params: Any) -> list[Any]:
        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(sql), params))
        finally:
            engine.dispose()
