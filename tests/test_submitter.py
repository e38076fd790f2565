"""The submitter stage on its own, stepped by the test: a real job table, real files, the
emulator over HTTP. What it must not do is checked step by step, not by waiting."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support import KEY, EmulatorControl, wait_until
from visionati_sync.client import ApiClient
from visionati_sync.config import ApiSettings
from visionati_sync.devtools import samples
from visionati_sync.devtools.emulator import Emulator
from visionati_sync.gate import Gate
from visionati_sync.jobtable import PAUSE_KEY, JobTable
from visionati_sync.poller import Poller
from visionati_sync.records import FileSeen
from visionati_sync.submitter import Submitter


class Pipeline:
    def __init__(self, tmp: Path, emulator: Emulator, **api: object) -> None:
        self.photos = tmp / "photos"
        self.table = JobTable.open(f"sqlite:///{tmp / 'state.db'}")
        settings = ApiSettings(base_url=emulator.url, poll_interval=0.1, **api)  # type: ignore[arg-type]
        self.gate = Gate(self.table.reports, auth_retry_interval=60, credit_check_interval=60)
        client = lambda: ApiClient(emulator.url, KEY)  # noqa: E731
        self.submitter = Submitter(self.table, client, settings, self.gate)
        self.poller = Poller(self.table.requests, client, settings)

    def add(self, paths: list[Path]) -> None:
        files = [FileSeen(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in paths]
        self.table.queue.enqueue(str(self.photos), files)

    def answer_all(self) -> None:
        def answered() -> bool:
            self.poller.step()
            return self.table.requests.outstanding() == 0

        wait_until(answered, 10, what="every request answered")


def test_no_request_goes_out_while_the_in_flight_cap_is_reached(
    tmp_path: Path, emulator: Emulator, control: EmulatorControl
) -> None:
    control.settings(queued_polls=100_000)  # the API holds every request
    pipeline = Pipeline(tmp_path, emulator, batch_size=2, max_inflight_requests=2)
    pipeline.add(samples.write_library(pipeline.photos, 10))
    assert pipeline.submitter.step() and pipeline.submitter.step()
    assert not pipeline.submitter.step()  # two requests unanswered: nothing claimed or sent
    assert len(control.uploads()) == 2
    assert pipeline.table.reports.counts()["pending"] == 6
    control.settings(queued_polls=0, processing_polls=0)
    pipeline.answer_all()  # two places free
    assert pipeline.submitter.step() and pipeline.submitter.step()
    assert not pipeline.submitter.step()
    assert len(control.uploads()) == 4


def test_a_batch_served_wholly_from_the_cache_uploads_nothing_and_pauses_nothing(
    tmp_path: Path, emulator: Emulator, control: EmulatorControl
) -> None:
    control.settings(queued_polls=0, processing_polls=0)
    pipeline = Pipeline(tmp_path, emulator, max_credits_per_day=1000)
    (original,) = samples.write_library(pipeline.photos, 1)
    pipeline.add([original])
    assert pipeline.submitter.step()
    pipeline.answer_all()
    copies = [pipeline.photos / f"copy{n}{original.suffix}" for n in range(3)]
    for copy in copies:
        shutil.copy(original, copy)
    pipeline.add(copies)
    assert pipeline.submitter.step()
    assert len(control.uploads()) == 1  # the copies cost nothing
    assert pipeline.gate.paused is None
    assert pipeline.table.reports.get_state(PAUSE_KEY) is None
    assert [task.relpath for task in pipeline.table.writes.tasks()] == [
        original.name,
        *(copy.name for copy in copies),
    ]


@pytest.mark.parametrize("left", [8, 0])
def test_a_budget_too_small_for_one_photo_pauses_uploads_and_sends_nothing(
    tmp_path: Path, emulator: Emulator, control: EmulatorControl, left: int
) -> None:
    pipeline = Pipeline(tmp_path, emulator, max_credits_total=left)  # 9 credits a photo
    pipeline.add(samples.write_library(pipeline.photos, 3))
    assert pipeline.submitter.step()
    assert control.uploads() == []
    assert pipeline.table.reports.counts()["pending"] == 3  # back in the queue, unharmed
    paused = pipeline.table.reports.get_state(PAUSE_KEY)
    assert paused["kind"] == "budget"
    assert paused["reason"].startswith("total budget of")
    assert not pipeline.submitter.step()  # and the gate holds
