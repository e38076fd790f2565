from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import EmulatorControl, Library, NotifySocket
from visionati_sync import log
from visionati_sync.devtools.emulator import Emulator, EmulatorSettings
from visionati_sync.devtools.pgserver import PostgresServer
from visionati_sync.jobtable import engine as db

TEMPLATE = "migrated"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """The API emulator on a free loopback port, answering after one queued and one
    processing poll."""
    server = Emulator(EmulatorSettings()).start()
    yield server
    server.stop()


@pytest.fixture
def control(emulator: Emulator) -> EmulatorControl:
    return EmulatorControl(emulator.url)


@pytest.fixture
def library(tmp_path: Path, emulator: Emulator) -> Library:
    """A photo folder (empty) and a config for it against the emulator."""
    return Library(tmp_path, emulator.url)


# Commands the tests run never leave a warm helper behind (tests/test_startup.py tries one
# on purpose, and waits for it to end).
os.environ["VISIONATI_SYNC_HELPER"] = "off"


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    log.configure("warning", json=True)


# -- PostgreSQL: one throwaway server for the session, a fresh database per test ----------


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server from Debian's packages (scripts/system-deps.sh installs
    them), started for the tests that need one, with an empty migrated template that each
    test's database is copied from."""
    with PostgresServer() as server:
        engine = db.make_engine(server.create_database(TEMPLATE))
        db.upgrade(engine)
        engine.dispose()
        yield server


def new_database(server: PostgresServer) -> str:
    """A fresh database, migrated to the head, for one test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    return server.create_database(name, template=TEMPLATE)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The job table's URL, once on each engine: a SQLite file, and a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    return new_database(request.getfixturevalue("postgres"))


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no schema yet, on each engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    server = request.getfixturevalue("postgres")
    return server.create_database(f"empty_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    """systemd's side of the notify protocol: a datagram socket the daemon is told of."""
    listener = NotifySocket()
    yield listener
    listener.close()


@pytest.fixture
def browser() -> Iterator[object]:
    """Debian's chromium, headless, driven by Playwright (tests/web.py says more)."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: scripts/system-deps.sh installs it"
    sandbox = ["--no-sandbox"] if os.geteuid() == 0 else []  # root: Chromium's own rule
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=sandbox)
        yield launched
        launched.close()
