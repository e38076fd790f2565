"""The submitter stage on its own, stepped by the test: a real job table, real files, the
emulator over HTTP. What it must not do is checked step by step, not by waiting."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import requests

from support import KEY, EmulatorControl, wait_until
from visionati_sync.api.client import ApiClient
from visionati_sync.config import ApiSettings, SidecarSettings
from visionati_sync.devtools import samples
from visionati_sync.devtools.emulator import Emulator
from visionati_sync.jobtable import JobTable
from visionati_sync.pipeline.gate import Gate
from visionati_sync.pipeline.poller import Poller
from visionati_sync.pipeline.submitter import Submitter
from visionati_sync.pipeline.writer import Writer
from visionati_sync.records import FileSeen, State


class Pipeline:
    def __init__(self, tmp: Path, emulator: Emulator, **api: object) -> None:
        self.photos = tmp / "photos"
        self.table = JobTable.open(f"sqlite:///{tmp / 'state.db'}")
        settings = ApiSettings(base_url=emulator.url, poll_interval=0.1, **api)  # type: ignore[arg-type]
        self.gate = Gate(self.table.reports, auth_retry_interval=60, credit_check_interval=60)
        client = lambda: ApiClient(emulator.url, KEY)  # noqa: E731
        self.submitter = Submitter(self.table, client, settings, self.gate)
        self.poller = Poller(self.table.polls, client, settings)

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
    assert pipeline.table.reports.paused() is None
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
    paused = pipeline.table.reports.paused()
    assert paused["kind"] == "budget"
    assert paused["reason"].startswith("total budget of")
    assert not pipeline.submitter.step()  # and the gate holds


def test_copies_that_arrive_together_or_while_their_bytes_are_in_flight_pay_once(
    tmp_path: Path, emulator: Emulator, control: EmulatorControl
) -> None:
    control.settings(queued_polls=100_000)  # the API holds the request while copies arrive
    pipeline = Pipeline(tmp_path, emulator, batch_size=8)
    (original,) = samples.write_library(pipeline.photos, 1)
    together = [pipeline.photos / f"copy{n}{original.suffix}" for n in range(3)]
    for copy in together:
        shutil.copy(original, copy)
    pipeline.add([original, *together])  # four identical files in one batch
    assert pipeline.submitter.step()
    later = pipeline.photos / f"later{original.suffix}"
    shutil.copy(original, later)
    pipeline.add([later])  # a fifth while the first upload is with the API
    assert pipeline.submitter.step()
    assert [len(upload["sha256"]) for upload in control.uploads()] == [1]  # one file, once
    assert pipeline.table.reports.counts()["submitted"] == 5
    control.settings(queued_polls=0, processing_polls=0)
    pipeline.answer_all()
    written = sorted(task.relpath for task in pipeline.table.writes.tasks())
    assert written == sorted(p.name for p in (original, *together, later))
    jobs = pipeline.table.reports.jobs()
    assert [job.attempts for job in jobs] == [0] * 5  # tagged: no failure counted


def test_copies_riding_on_a_request_that_is_lost_go_back_without_an_attempt(
    tmp_path: Path, emulator: Emulator, control: EmulatorControl
) -> None:
    control.settings(queued_polls=100_000)
    pipeline = Pipeline(tmp_path, emulator, batch_size=8)
    (original,) = samples.write_library(pipeline.photos, 1)
    copy = pipeline.photos / f"copy{original.suffix}"
    shutil.copy(original, copy)
    pipeline.add([original, copy])
    assert pipeline.submitter.step()
    requests.post(f"{emulator.url}/_emulator/expire", json={}, timeout=10)  # forgotten
    wait_until(lambda: pipeline.poller.step() is True, 10, what="a poll")
    counts = pipeline.table.reports.counts()
    assert (counts["pending"], counts["failed"]) == (2, 0)
    assert sorted(job.attempts for job in pipeline.table.reports.jobs()) == [0, 1]


def media_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_photo_whose_sidecars_cannot_be_written_is_not_paid_for(
    tmp_path: Path, emulator: Emulator, control: EmulatorControl
) -> None:
    pipeline = Pipeline(tmp_path, emulator, batch_size=8)
    photos = pipeline.photos
    photos.mkdir()
    too_long = photos / ("写" * 80 + ".jpg")  # 244 bytes: + ".visionati.json" is 259
    broken = photos / "broken.jpg"
    linked = photos / "linked.jpg"
    fine = photos / ("長" * 70 + ".jpg")  # 214 bytes: its sidecars fit, their temporaries not
    for n, path in enumerate((too_long, broken, linked, fine)):
        path.write_bytes(samples.jpeg(n))
    (photos / "broken.jpg.xmp").write_bytes(b"<x:xmpmeta><rdf:RDF>half a sidecar")
    (tmp_path / "private.xmp").write_bytes(b"<x:xmpmeta/>")
    (photos / "linked.jpg.xmp").symlink_to(tmp_path / "private.xmp")
    pipeline.add([too_long, broken, linked, fine])
    assert pipeline.submitter.step()
    assert [upload["sha256"] for upload in control.uploads()] == [[media_sha(fine)]]
    failed = {Path(job.path).name: job.error for job in pipeline.table.reports.jobs(State.FAILED)}
    assert failed[too_long.name].endswith(
        "the sidecar's name is 259 bytes; this file system takes 255"
    )
    assert "cannot parse XMP" in failed[broken.name]
    assert "a symbolic link; sidecars are never read or written through it" in failed[linked.name]
    control.settings(queued_polls=0, processing_polls=0)
    pipeline.answer_all()
    writer = Writer(pipeline.table.writes, SidecarSettings())
    assert writer.step()
    assert pipeline.table.reports.counts()["done"] == 1
    assert (photos / (fine.name + ".visionati.json")).exists()


def test_a_step_that_fails_midway_gives_its_claims_back(tmp_path: Path, emulator: Emulator) -> None:
    pipeline = Pipeline(tmp_path, emulator)
    pipeline.add(samples.write_library(pipeline.photos, 3))

    def broken(_folder: str) -> object:
        raise RuntimeError("a bug while grouping the batch")

    pipeline.submitter.options_for = broken  # type: ignore[assignment]
    with pytest.raises(RuntimeError):
        pipeline.submitter.step()
    assert pipeline.table.reports.counts()["pending"] == 3
    assert len(pipeline.table.claims.claim(8)) == 3  # in the queue, not held by the failed step


def test_after_a_library_of_copies_every_request_still_carries_at_most_batch_size_files(
    tmp_path: Path, emulator: Emulator, control: EmulatorControl
) -> None:
    control.settings(queued_polls=0, processing_polls=0)
    pipeline = Pipeline(tmp_path, emulator, batch_size=8, max_inflight_requests=10)
    (original,) = samples.write_library(pipeline.photos, 1)
    pipeline.add([original])
    assert pipeline.submitter.step()
    pipeline.answer_all()
    copies = [pipeline.photos / f"copy{n}{original.suffix}" for n in range(80)]
    for copy in copies:
        shutil.copy(original, copy)
    pipeline.add(copies)
    while pipeline.submitter.step():  # the cache serves them all, in ever larger claims
        pass
    assert pipeline.table.reports.counts()["submitted"] == 81  # written next, none uploaded
    pipeline.add(samples.write_library(pipeline.photos, 40, start=1))
    while pipeline.submitter.step():
        pass
    sizes = [len(upload["sha256"]) for upload in control.uploads()]
    assert sum(sizes) == 41 and max(sizes) <= 8, sizes
