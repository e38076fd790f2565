"""The job table on a real SQLite file: transitions and concurrent claims."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest

from visionati_sync import db
from visionati_sync.jobs import FileSeen, JobStore, Scope, Upload
from visionati_sync.options import RequestOptions

OPTIONS = RequestOptions(("tags",), (), "general", "English", None, 0.9)


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    db.upgrade(engine)
    return JobStore(engine, worker="test:1")


def seen(n: int, size: int = 10) -> FileSeen:
    return FileSeen(f"IMG_{n}.jpg", size, 1_000 + n)


def test_enqueue_is_idempotent_and_notices_changes(store: JobStore) -> None:
    assert store.enqueue("/f", [seen(1), seen(2)])["new"] == 2
    assert store.enqueue("/f", [seen(1), seen(2)])["unchanged"] == 2
    assert store.enqueue("/f", [seen(1, size=99)])["updated"] == 1
    assert store.counts()["pending"] == 2


def test_a_file_is_identified_by_folder_and_relative_path(store: JobStore) -> None:
    store.enqueue("/a", [seen(1)])
    store.enqueue("/b", [seen(1)])
    assert store.counts()["pending"] == 2
    assert [j.folder for j in store.claim(10, [Scope("/b")])] == ["/b"]


def test_full_lifecycle_through_states(store: JobStore) -> None:
    store.enqueue("/f", [seen(1), seen(2)])
    claimed = store.claim(8)
    assert store.counts() == {"pending": 2, "submitted": 0, "done": 0, "failed": 0, "skipped": 0}
    uploads = [Upload(j.id, f"n{j.id}.jpg", f"sha{j.id}", j.size, j.mtime_ns) for j in claimed]
    store.mark_submitted("req-1", None, OPTIONS, uploads, first_poll_in=0)
    assert store.counts()["submitted"] == 2
    assert [r.id for r in store.due_requests()] == ["req-1"]
    assert store.request_uploads("req-1") == {f"n{j.id}.jpg": j.id for j in claimed}
    first, _unanswered = claimed  # the API returns nothing for the second file
    store.complete_request(
        "req-1", 6, 94, {first.id: {"name": f"n{first.id}.jpg"}}, [], missing_error="none"
    )
    assert store.due_requests() == []
    tasks = store.write_tasks()
    assert [t.job_id for t in tasks] == [first.id]
    store.mark_done([first.id])
    counts = store.counts()
    assert (counts["done"], counts["failed"]) == (1, 1)
    assert store.jobs("failed")[0].error == "none"
    assert store.credits_spent() == 6 and store.last_balance() == 94
    # the same bytes under the same options are a cache hit; other options are not
    assert store.cached_results([f"sha{first.id}"], OPTIONS) != {}
    other = RequestOptions(("tags",), ("openai",), "general", "English", None, 0.9)
    assert store.cached_results([f"sha{first.id}"], other) == {}


def test_a_lost_request_puts_its_files_back_until_they_run_out_of_tries(store: JobStore) -> None:
    store.enqueue("/f", [seen(1)])
    for attempt in (1, 2):
        (job,) = store.claim(1)
        upload = Upload(job.id, "a", "h", 1, 1)
        store.mark_submitted(f"r{attempt}", None, OPTIONS, [upload], first_poll_in=0)
        store.request_lost(f"r{attempt}", f"Request ID r{attempt} not found.", max_attempts=2)
    assert store.claim(1) == []  # sent twice, lost twice: no third upload
    (row,) = store.jobs("failed")
    assert row.attempts == 2 and "Request ID r2 not found." in (row.error or "")


def test_retries_end_in_failed_after_max_attempts(store: JobStore) -> None:
    store.enqueue("/f", [seen(1)])
    outcomes = []
    for _ in range(3):
        (job,) = store.claim(1)
        outcomes.append(store.retry_later(job.id, "HTTP 500", delay=0, max_attempts=3))
    assert outcomes == [True, True, False]
    (row,) = store.jobs("failed")
    assert row.attempts == 3 and "gave up after 3 attempts" in (row.error or "")


def test_orphaned_claims_of_dead_workers_go_back(store: JobStore) -> None:
    store.enqueue("/f", [seen(1), seen(2)])
    store.claim(2)
    assert store.release_orphaned_claims(lambda owner: owner != "test:1") == 2
    assert len(store.claim(5)) == 2


def test_concurrent_claims_never_take_a_job_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    JobStore(engine).enqueue("/f", [seen(n) for n in range(600)])
    taken: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        store = JobStore(db.make_engine(url), worker=f"w:{n}")  # one engine each, like processes
        try:
            while batch := store.claim(7):
                with lock:
                    taken.extend(job.id for job in batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(taken) == 600
    assert [job for job, n in Counter(taken).items() if n > 1] == []
