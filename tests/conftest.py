from __future__ import annotations

from collections.abc import Iterator

import pytest

from support import EmulatorControl
from visionati_sync import log
from visionati_sync.emulator import Emulator, EmulatorSettings


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


@pytest.fixture(autouse=True)
def _quiet_logs() -> None:
    log.configure("warning", json=True)
