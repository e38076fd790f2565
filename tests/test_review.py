"""Defects found in review, each with the test that showed it: a file renamed while claimed,
a pause erased by another process, poll faults that never reset, half a sidecar pair
written for a failed job, the secrets set changed under a logging thread, and `scan PATH`
racing a deletion. (A sidecar write refused after paying is in test_hostile.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from visionati_sync import log
from visionati_sync.api.options import RequestOptions
from visionati_sync.config import SidecarSettings
from visionati_sync.devtools import samples
from visionati_sync.jobtable import JobTable
from visionati_sync.pipeline.gate import Gate
from visionati_sync.pipeline.scanner import walk_folders
from visionati_sync.pipeline.writer import Writer
from visionati_sync.records import FileSeen, Scope, State, Upload
from visionati_sync.rules.policy import Pause, PauseKind
from visionati_sync.rules.selection import Selector

OPTIONS = RequestOptions(("tags",), (), "general", "English", None, 0.9)


@pytest.fixture
def table(tmp_path: Path) -> JobTable:
    return JobTable.open(f"sqlite:///{tmp_path / 'state.db'}")


def queued(table: JobTable, photos: Path, *names: str) -> list[Path]:
    photos.mkdir(exist_ok=True)
    paths = []
    for n, name in enumerate(names):
        path = photos / name
        path.write_bytes(samples.jpeg(n))
        paths.append(path)
    files = [FileSeen(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in paths]
    table.queue.enqueue(str(photos), files)
    return paths


def test_a_file_renamed_while_its_job_is_claimed_keeps_its_job(
    tmp_path: Path, table: JobTable
) -> None:
    photos = tmp_path / "photos"
    (image,) = queued(table, photos, "IMG_1.jpg")
    (job,) = table.claims.claim(1)
    image.rename(photos / "renamed.jpg")  # the watcher reports the move...
    assert table.queue.move(str(photos), "IMG_1.jpg", str(photos), "renamed.jpg")
    table.claims.drop_vanished(job)  # ...while the submitter finds the old name gone
    (row,) = table.reports.jobs()
    assert (row.id, row.state, Path(row.path).name) == (job.id, State.PENDING, "renamed.jpg")
    (again,) = table.claims.claim(1)
    assert again.path == str(photos / "renamed.jpg")


def test_a_process_starting_beside_a_paused_daemon_keeps_its_pause(table: JobTable) -> None:
    paused = Gate(table.reports, auth_retry_interval=60, credit_check_interval=60,
                  worker="host:1")  # fmt: skip
    paused.pause(Pause(PauseKind.AUTH, "API key rejected: Access denied."))
    Gate(table.reports, auth_retry_interval=60, credit_check_interval=60, worker="host:2")
    assert table.reports.status()["paused"] == {
        "kind": "auth", "reason": "API key rejected: Access denied.",
    }  # fmt: skip


def test_a_good_poll_starts_the_count_of_poll_faults_over(tmp_path: Path, table: JobTable) -> None:
    queued(table, tmp_path / "photos", "IMG_1.jpg")
    (job,) = table.claims.claim(1)
    upload = Upload(job.id, "IMG_1.jpg", "ab" * 32, job.size, job.mtime_ns)
    table.requests.mark_submitted("r1", None, OPTIONS, [upload], first_poll_in=0)
    for _ in range(3):
        table.polls.defer_poll("r1", None, 0, failure=True)
    assert table.polls.due()[0].poll_failures == 3
    table.polls.defer_poll("r1", "processing", 0)  # a good answer
    assert table.polls.due()[0].poll_failures == 0


def test_a_job_whose_second_sidecar_cannot_be_staged_writes_neither(
    tmp_path: Path, table: JobTable
) -> None:
    photos = tmp_path / "photos"
    (image,) = queued(table, photos, "IMG_1.jpg")
    (job,) = table.claims.claim(1)
    upload = Upload(job.id, "IMG_1.jpg", "ab" * 32, job.size, job.mtime_ns)
    table.requests.mark_submitted("r1", None, OPTIONS, [upload], first_poll_in=0)
    asset = {"name": "IMG_1.jpg", "tags": {"dog": [{"score": 0.99}]}}
    table.polls.complete("r1", 1, 1, {job.id: asset}, [], {}, retry_delay=0, max_attempts=1)
    (photos / "IMG_1.jpg.visionati.json").mkdir()  # the JSON sidecar cannot be staged
    assert Writer(table.writes, SidecarSettings()).step()
    (row,) = table.reports.jobs()
    assert row.state == State.FAILED and "a directory" in (row.error or "")
    assert not image.with_name("IMG_1.jpg.xmp").exists()  # not half of the pair
    assert sorted(p.name for p in photos.iterdir()) == ["IMG_1.jpg", "IMG_1.jpg.visionati.json"]


def test_a_key_registered_while_another_thread_logs_breaks_nothing() -> None:
    class Logging(str):
        """A log value whose redaction is interrupted by a reload registering a new key."""

        def replace(self, *args: object) -> str:  # type: ignore[override]
            log.register_secret("a-new-key-from-sighup")
            return str.replace(self, *args)  # type: ignore[arg-type]

    log.register_secret("the-old-key-1234")
    assert log.redact(Logging("text with the-old-key-1234")) == "text with [redacted]"


def test_scan_of_a_file_that_vanishes_as_it_is_named_walks_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "gone.jpg"
    # the file is there when `scan PATH` checks it, and gone when the walk looks at it
    monkeypatch.setattr(os.path, "isfile", lambda path: str(path) == str(gone))
    assert list(walk_folders(tmp_path, True, Selector(), start="gone.jpg")) == []


def test_a_write_taken_before_an_untag_puts_nothing_back(tmp_path: Path, table: JobTable) -> None:
    """The writer took a photo's write; the user untagged it before the rename. Our
    keywords must not come back in a sidecar under an untagged job: the writer asks, just
    before it renames, whether the write is still its own."""
    photos = tmp_path / "photos"
    (image,) = queued(table, photos, "IMG_1.jpg")
    (job,) = table.claims.claim(1)
    upload = Upload(job.id, "v1.jpg", "sha-1", job.size, job.mtime_ns)
    table.requests.mark_submitted("r1", "uri", OPTIONS, [upload], first_poll_in=0)
    asset = {"name": "v1.jpg", "tags": {"dog": [{"score": 0.99}]}}
    table.polls.complete("r1", 1, 99, {job.id: asset}, [], {}, retry_delay=0, max_attempts=3)
    writer = Writer(table.writes, SidecarSettings())
    (task,) = table.writes.tasks()  # the writer's step has taken it...
    assert table.queue.untag([Scope(str(photos))])[0] == 1  # ...the user untags it...
    writer.write([task])  # ...and the writer goes on
    assert sorted(p.name for p in photos.iterdir()) == [image.name]  # no sidecar of ours
    assert table.reports.states([job.id]) == {job.id: State.UNTAGGED}
