from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support import EmulatorControl, Library
from visionati_sync import log
from visionati_sync.devtools.emulator import Emulator, EmulatorSettings


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


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    log.configure("warning", json=True)
