"""The job table on each engine (a real SQLite file, a real PostgreSQL server): transitions,
their guards, concurrent claims, leases."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, select

from visionati_sync.api.options import RequestOptions
from visionati_sync.jobtable import JobTable
from visionati_sync.jobtable import transitions as t
from visionati_sync.jobtable.schema import ApiRequest, Job
from visionati_sync.records import ClaimedJob, FileSeen, FolderNames, Scope, State, Upload

OPTIONS = RequestOptions(("tags",), (), "general", "English", None, 0.9)


@pytest.fixture
def table(db_url: str) -> Iterator[JobTable]:
    table = JobTable.open(db_url, worker="test:1")
    yield table
    table.close()


def seen(n: int, size: int = 10) -> FileSeen:
    return FileSeen(f"IMG_{n}.jpg", size, 1_000 + n)


def row(table: JobTable, job_id: int) -> Job:
    with table.engine.begin() as conn:
        return conn.execute(select(Job).where(Job.id == job_id)).one()  # type: ignore[return-value]


def submit(table: JobTable, request_id: str, limit: int = 8) -> list[int]:
    claimed = table.claims.claim(limit)
    uploads = [Upload(j.id, f"n{j.id}.jpg", f"sha{j.id}", j.size, j.mtime_ns) for j in claimed]
    table.requests.mark_submitted(request_id, None, OPTIONS, uploads, first_poll_in=0)
    return [j.id for j in claimed]


def test_enqueue_is_idempotent_and_notices_changes(table: JobTable) -> None:
    assert table.queue.enqueue("/f", [seen(1), seen(2)])["new"] == 2
    assert table.queue.enqueue("/f", [seen(1), seen(2)])["unchanged"] == 2
    assert table.queue.enqueue("/f", [seen(1, size=99)])["updated"] == 1
    assert table.reports.counts()["pending"] == 2


def test_a_file_is_identified_by_folder_and_relative_path(table: JobTable) -> None:
    table.queue.enqueue("/a", [seen(1)])
    table.queue.enqueue("/b", [seen(1)])
    assert table.reports.counts()["pending"] == 2
    assert [j.folder for j in table.claims.claim(10, [Scope("/b")])] == ["/b"]


def test_full_lifecycle_through_states(table: JobTable) -> None:
    table.queue.enqueue("/f", [seen(1), seen(2)])
    claimed = table.claims.claim(8)
    assert table.reports.counts() == {
        "pending": 2, "submitted": 0, "done": 0, "failed": 0, "skipped": 0, "review": 0,
        "untagged": 0,
    }  # fmt: skip
    uploads = [Upload(j.id, f"n{j.id}.jpg", f"sha{j.id}", j.size, j.mtime_ns) for j in claimed]
    table.requests.mark_submitted("req-1", None, OPTIONS, uploads, first_poll_in=0)
    assert table.reports.counts()["submitted"] == 2
    assert [r.id for r in table.polls.due()] == ["req-1"]
    assert table.polls.uploads("req-1") == {f"n{j.id}.jpg": j.id for j in claimed}
    first, second = claimed  # the API returns nothing for the second file
    table.polls.complete(
        "req-1", 6, 94, {first.id: {"name": f"n{first.id}.jpg"}}, [], {second.id: "none"},
        retry_delay=0, max_attempts=1,
    )  # fmt: skip
    assert table.polls.due() == []
    tasks = table.writes.tasks()
    assert [task.job_id for task in tasks] == [first.id]
    table.writes.done([first.id])
    counts = table.reports.counts()
    assert (counts["done"], counts["failed"]) == (1, 1)
    assert table.reports.jobs(State.FAILED)[0].error == "none (gave up after 1 attempts)"
    assert table.reports.credits_spent() == 6 and table.reports.last_balance() == 94
    # the same bytes under the same options are a cache hit; other options are not
    assert table.results.cached([f"sha{first.id}"], OPTIONS) != {}
    other = RequestOptions(("tags",), ("openai",), "general", "English", None, 0.9)
    assert table.results.cached([f"sha{first.id}"], other) == {}


def test_a_lost_request_puts_its_files_back_until_they_run_out_of_tries(table: JobTable) -> None:
    table.queue.enqueue("/f", [seen(1)])
    for attempt in (1, 2):
        submit(table, f"r{attempt}")
        table.polls.lost(f"r{attempt}", f"Request ID r{attempt} not found.", max_attempts=2)
    assert table.claims.claim(1) == []  # sent twice, lost twice: no third upload
    (failed,) = table.reports.jobs(State.FAILED)
    assert failed.attempts == 2 and "Request ID r2 not found." in (failed.error or "")


def test_retries_end_in_failed_after_max_attempts(table: JobTable) -> None:
    table.queue.enqueue("/f", [seen(1)])
    outcomes = []
    for _ in range(3):
        (job,) = table.claims.claim(1)
        outcomes.append(table.claims.retry_later(job.id, "HTTP 500", delay=0, max_attempts=3))
    assert outcomes == [True, True, False]
    (failed,) = table.reports.jobs(State.FAILED)
    assert failed.attempts == 3 and "gave up after 3 attempts" in (failed.error or "")


def test_orphaned_claims_of_dead_workers_go_back(table: JobTable) -> None:
    table.queue.enqueue("/f", [seen(1), seen(2)])
    table.claims.claim(2)
    assert table.claims.give_back_of(["another:2"]) == 0  # not another's to give back
    assert table.claims.give_back_of(["test:1"]) == 2
    assert len(table.claims.claim(5)) == 2


def test_every_way_back_to_the_queue_leaves_a_clean_pending_job(table: JobTable) -> None:
    """Whichever transition puts a job back, it holds no lock, no request and no result, and
    is due; only new content or the user's retry starts its attempts over."""
    table.queue.enqueue("/f", [seen(n) for n in range(1, 6)])
    a, b, c, d = submit(table, "r1", limit=4)
    (e,) = submit(table, "r2")
    assets = {job: {"name": f"n{job}.jpg"} for job in (a, b, c)}
    table.polls.complete(
        "r1", 4, 0, assets, [], {d: "no result"}, retry_delay=0, max_attempts=1
    )  # d fails
    table.writes.done([a])
    table.writes.changed(b, 99, 99)  # b changed after its upload
    table.queue.enqueue("/f", [seen(1, size=50)])  # a changed after it was done
    table.queue.retry([d])  # the user retries d
    table.polls.lost("r2", "Request ID r2 not found.", max_attempts=5)
    assert [task.job_id for task in table.writes.tasks()] == [c]
    for job_id, attempts, error in (
        (a, 0, None), (b, 0, None), (d, 0, None), (e, 1, "Request ID r2 not found."),
    ):  # fmt: skip
        job = row(table, job_id)
        assert (job.state, job.attempts, job.error) == (State.PENDING, attempts, error)
        assert (job.locked_by, job.request_id, job.result_id) == (None, None, None)
        assert job.next_attempt_at <= datetime.now(UTC) + timedelta(seconds=1)


def test_a_transition_from_a_state_it_does_not_start_from_changes_nothing(
    table: JobTable,
) -> None:
    table.queue.enqueue("/f", [seen(1), seen(2)])
    (job,) = table.claims.claim(1)
    other = job.id + 1
    table.writes.done([job.id, other])  # neither is being written
    table.writes.failed(other, "not mine")
    table.claims.not_sent(other, State.SKIPPED, "not claimed")
    table.queue.retry([job.id, other])  # neither failed
    assert row(table, job.id).state == State.CLAIMED
    assert (row(table, other).state, row(table, other).error) == (State.PENDING, None)
    thief = JobTable(table.engine, worker="other:2")
    thief.claims.release([job.id])  # another worker's claim is not its to give back
    assert row(table, job.id).state == State.CLAIMED


def test_the_transition_table_covers_every_state() -> None:
    assert {s for tr in t.TRANSITIONS for s in tr.targets} == set(State)  # each can be reached
    assert {s for tr in t.TRANSITIONS for s in tr.sources} == set(State)  # and left
    with pytest.raises(AssertionError):
        t.statement(t.CLAIM, t.done(datetime.now(UTC)))  # a target the transition has not


def test_concurrent_claims_never_take_a_job_twice(db_url: str) -> None:
    url = db_url
    JobTable.open(url).queue.enqueue("/f", [seen(n) for n in range(600)])
    taken: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        claims = JobTable.open(url).claims  # one engine each, like processes
        claims.worker = f"w:{n}"
        try:
            while batch := claims.claim(7):
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


def test_faults_on_every_upload_split_the_batch_then_fail_the_file_alone(
    table: JobTable,
) -> None:
    table.queue.enqueue("/f", [seen(1), seen(2)])
    batch = table.claims.claim(2)
    assert table.claims.faulted(batch, "HTTP 500", 0, max_faults=2) == "wait"
    batch = table.claims.claim(2)
    assert [job.faults for job in batch] == [1, 1]  # counted, not as attempts
    assert table.claims.faulted(batch, "HTTP 500", 0, max_faults=2) == "split"
    first, second = table.claims.claim(2)
    assert [(j.faults, j.batch_limit, j.attempts) for j in (first, second)] == [(0, 1, 0)] * 2
    table.claims.release([second.id])
    assert table.claims.faulted([first], "HTTP 500", 0, max_faults=2) == "wait"  # alone now
    first = next(job for job in table.claims.claim(2) if job.id == first.id)
    assert table.claims.faulted([first], "HTTP 500", 0, max_faults=2) == "fail"
    (failed,) = table.reports.jobs(State.FAILED)
    assert failed.error == "the API faults whenever this file is sent (2 times): HTTP 500"


def test_a_batch_refused_as_a_whole_goes_back_in_halves(table: JobTable) -> None:
    table.queue.enqueue("/f", [seen(n) for n in range(1, 6)])
    batch = table.claims.claim(5)
    table.claims.split([job.id for job in batch], "File too large. Max 20MB.")
    again = table.claims.claim(5)
    assert [job.batch_limit for job in again] == [3] * 5
    assert {job.attempts for job in again} == {0}
    (row, *_) = table.reports.jobs()
    assert row.error == "File too large. Max 20MB.; tried in smaller batches"


# -- a fleet: leases, shared spending, folder names ----------------------------------------


class Clock:
    """One clock for the daemons of a test, moved by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def sent(daemon: JobTable, job: ClaimedJob, request_id: str, name: str, sha: str) -> None:
    """``daemon`` uploads its claimed ``job`` alone, as ``name``, in request ``request_id``."""
    upload = Upload(job.id, name, sha, job.size, job.mtime_ns)
    daemon.requests.mark_submitted(request_id, "uri", OPTIONS, [upload], first_poll_in=0)


def fleet(table: JobTable, n: int, **kwargs: object) -> tuple[Clock, list[JobTable]]:
    """``n`` daemons on the table's database, sharing a clock, their leases 60 s."""
    clock = Clock()
    return clock, [
        JobTable(table.engine, f"host{i}:{i}", clock, lease_seconds=60, **kwargs)  # type: ignore[arg-type]
        for i in range(n)
    ]


def test_a_lapsed_claim_goes_back_and_its_daemon_can_no_longer_send_it(table: JobTable) -> None:
    clock, (a, b) = fleet(table, 2)
    a.queue.enqueue("/f", [seen(1), seen(2)])
    job, other = a.claims.claim(8)
    clock.advance(30)
    assert a.claims.renew([job.id, other.id], []) == 2  # a works on: the lease runs from now
    clock.advance(59)
    assert b.claims.take_back_lapsed() == 0
    clock.advance(2)  # a died, stalled past its lease, or was cut off from the table
    assert b.claims.take_back_lapsed() == 2
    assert [j.id for j in b.claims.claim(8)] == [job.id, other.id]
    assert a.claims.held([job.id, other.id]) == set()  # a sends neither now
    a.claims.release([job.id])
    assert (row(table, job.id).state, row(table, job.id).locked_by) == (State.CLAIMED, "host1:1")


def test_an_upload_recorded_after_its_claim_lapsed_still_counts(table: JobTable) -> None:
    """An outage longer than the lease: a's upload was answered (and paid), its claims lapsed
    and went back before a could record it. Recorded late (from a's journal), the request
    takes the files it carried where they still wait to go, as they were sent; b, which
    claimed one since, does not send it; a file changed since is not the one paid for."""
    clock, (a, b) = fleet(table, 2)
    a.queue.enqueue("/f", [seen(1), seen(2), seen(3)])
    waiting, claimed, changed = a.claims.claim(8)
    clock.advance(61)
    assert b.claims.take_back_lapsed() == 3
    assert [j.id for j in b.claims.claim(2)] == [waiting.id, claimed.id]  # b holds them,
    b.claims.release([waiting.id])  # gives one back to the queue, and has not sent the other
    a.queue.enqueue("/f", [seen(3, size=99)])  # changed on disk meanwhile
    uploads = [Upload(j.id, f"n{j.id}.jpg", f"sha{j.id}", j.size, j.mtime_ns)
               for j in (waiting, claimed, changed)]  # fmt: skip
    assert a.requests.mark_submitted("late", "uri", OPTIONS, uploads, first_poll_in=0)
    assert not a.requests.mark_submitted("late", "uri", OPTIONS, uploads, first_poll_in=0)
    states = {j: (row(table, j).state, row(table, j).request_id) for j in (waiting.id,
              claimed.id, changed.id)}  # fmt: skip
    assert states == {
        waiting.id: (State.SUBMITTED, "late"),
        claimed.id: (State.SUBMITTED, "late"),
        changed.id: (State.PENDING, None),
    }
    assert b.claims.held([claimed.id]) == set()  # so b does not upload it again


def test_one_daemon_polls_a_request_and_a_second_ending_writes_nothing(table: JobTable) -> None:
    clock, (a, b) = fleet(table, 2)
    a.queue.enqueue("/f", [seen(1)])
    (job,) = a.claims.claim(8)
    sent(a, job, "r1", "n.jpg", "sha")
    assert [r.id for r in a.polls.due()] == ["r1"]
    assert b.polls.due() == []  # a holds it while it polls
    clock.advance(61)  # a's poll hangs past its lease
    assert [r.id for r in b.polls.due()] == ["r1"]
    assert b.polls.complete("r1", 3, 97, {job.id: {"name": "n.jpg"}}, [], {},
                               retry_delay=0, max_attempts=3)  # fmt: skip
    assert not a.polls.complete("r1", 3, 97, {}, [], {job.id: "none"},
                                   retry_delay=0, max_attempts=3)  # fmt: skip
    assert row(table, job.id).state == State.WRITING


def test_a_copy_never_rides_a_request_answered_since_it_was_seen_in_flight(
    table: JobTable,
) -> None:
    """A scan of copies once left a file `submitted` for good: it joined a request the poller
    had answered between the submitter's look and its ride."""
    table.queue.enqueue("/f", [seen(1), seen(2)])
    first, copy = table.claims.claim(2)
    sent(table, first, "r1", "n.jpg", "same")
    assert table.requests.in_flight(["same"], OPTIONS) == {"same": "r1"}
    table.polls.complete("r1", 3, 97, {first.id: {"name": "n.jpg"}}, [], {},
                            retry_delay=0, max_attempts=3)  # fmt: skip
    riding = Upload(copy.id, "c.jpg", "same", copy.size, copy.mtime_ns)
    assert not table.requests.ride([riding], "r1")
    assert row(table, copy.id).state == State.CLAIMED  # the submitter gives it back...
    table.claims.release([copy.id])
    assert table.results.cached(["same"], OPTIONS) != {}  # ...and the cache answers
    # a table where an older version left such a rider: the next start frees it
    with table.engine.begin() as conn:
        conn.execute(
            Job.__table__.update()
            .where(Job.id == copy.id)
            .values(state=State.SUBMITTED, request_id="r1", locked_by=None)
        )
    table.claims.free_stranded()
    assert row(table, copy.id).state == State.PENDING
    assert row(table, first.id).state == State.WRITING  # an answered job is not touched


def test_one_daemon_writes_a_sidecar_and_a_lapsed_writer_cannot_mark_it(table: JobTable) -> None:
    clock, (a, b) = fleet(table, 2)
    a.queue.enqueue("/f", [seen(1)])
    (job,) = a.claims.claim(8)
    sent(a, job, "r1", "n.jpg", "sha")
    a.polls.complete("r1", 3, 97, {job.id: {"name": "n.jpg"}}, [], {},
                        retry_delay=0, max_attempts=3)  # fmt: skip
    assert [t.job_id for t in a.writes.tasks()] == [job.id]
    assert b.writes.tasks() == []
    clock.advance(61)
    assert [t.job_id for t in b.writes.tasks()] == [job.id]
    a.writes.done([job.id])  # too late: b holds it now
    assert row(table, job.id).state == State.WRITING
    b.writes.done([job.id])
    assert (row(table, job.id).state, row(table, job.id).locked_by) == (State.DONE, None)


def test_daemons_racing_for_the_last_credits_never_reserve_more_than_the_cap(
    db_url: str,
) -> None:
    cap, granted, errors = 10, [], []
    lock = threading.Lock()

    def daemon(n: int) -> None:
        table = JobTable.open(db_url, worker=f"host{n}:{n}")  # an engine each, like processes
        try:
            for _ in range(4):

                def decide(committed: object) -> tuple[int, int]:
                    left = cap - committed(None)  # type: ignore[operator]
                    return (1, 3) if left >= 3 else (0, 0)

                _, reservation = table.spending.reserve(decide)
                if reservation:
                    with lock:
                        granted.append(reservation)
        except BaseException as exc:
            errors.append(exc)
        finally:
            table.close()

    threads = [threading.Thread(target=daemon, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(granted) == 3  # 9 credits of 10; a fourth would be 12
    assert JobTable.open(db_url).reports.credits_committed() == 9


def test_a_folder_is_known_by_its_name_wherever_a_daemon_mounts_it(table: JobTable) -> None:
    _, (a,) = fleet(table, 1, folders=FolderNames({"/mnt/photos": "studio"}))
    _, (b,) = fleet(table, 1, folders=FolderNames({"/Volumes/Photos": "studio"}))
    a.queue.enqueue("/mnt/photos", [seen(1)])
    assert b.queue.enqueue("/Volumes/Photos", [seen(1)])["unchanged"] == 1
    assert b.queue.changed("/Volumes/Photos", "", [seen(1)]) == []
    (job,) = b.claims.claim(8, [Scope("/Volumes/Photos")])
    assert job.path == "/Volumes/Photos/IMG_1.jpg"
    assert [r.path for r in a.reports.jobs()] == ["/mnt/photos/IMG_1.jpg"]


@pytest.fixture(params=["sqlite", "postgresql"])
def collated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobTable]:
    """A job table, on PostgreSQL in a database whose text sorts as people read it (ICU's
    en-US: "A/x" before "a/b", punctuation ignored at first), not byte by byte."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
    else:
        server = request.getfixturevalue("postgres")
        name = f"icu_{uuid.uuid4().hex[:8]}"
        server.execute(
            f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu "
            "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        )
        url = server.url(name)
    table = JobTable.open(url, worker="test:1")
    yield table
    table.close()


def test_a_sub_folder_is_one_range_of_names_whatever_the_collation(collated: JobTable) -> None:
    table = collated
    names = ["a.jpg", "a-b.jpg", "a/b.jpg", "a/ä.jpg", "a/sub/c.jpg", "A/x.jpg", "ab/c.jpg",
             "a b.jpg", "a/Z.jpg", "a0.jpg"]  # fmt: skip
    files = [FileSeen(name, 1, 1) for name in names]
    table.queue.enqueue("/f", files)
    inside = [f for f in files if f.relpath.count("/") == 1 and f.relpath.startswith("a/")]
    assert table.queue.changed("/f", "a", inside) == []  # all known: nothing read again
    claimed = table.claims.claim(20, [Scope("/f", "a")])
    assert sorted(j.relpath for j in claimed) == ["a/Z.jpg", "a/b.jpg", "a/sub/c.jpg", "a/ä.jpg"]


def test_what_a_stopped_or_dead_daemon_held_is_anyones_at_once(table: JobTable) -> None:
    _, (a, b) = fleet(table, 2)
    a.queue.enqueue("/f", [seen(1), seen(2), seen(3)])
    first, second, third = a.claims.claim(8)
    sent(a, first, "r1", "n.jpg", "sha")
    sent(a, second, "r2", "m.jpg", "sha2")
    a.polls.complete("r2", 3, 97, {second.id: {"name": "m.jpg"}}, [], {},
                        retry_delay=0, max_attempts=3)  # fmt: skip
    assert [r.id for r in a.polls.due()] == ["r1"] and len(a.writes.tasks()) == 1
    a.claims.let_go()  # a clean stop: no waiting for its leases to lapse
    assert [r.id for r in b.polls.due()] == ["r1"]
    assert [t.job_id for t in b.writes.tasks()] == [second.id]
    assert [j.id for j in b.claims.claim(8)] == [third.id]
    # a daemon that dies holding work: whoever finds it gone gives it all back
    a.claims.give_back_of(["host1:1"])
    assert [r.id for r in a.polls.due()] == ["r1"]
    assert [t.job_id for t in a.writes.tasks()] == [second.id]
    assert [j.id for j in a.claims.claim(8)] == [third.id]


def test_a_daemon_polls_its_own_requests_and_anothers_only_when_late(table: JobTable) -> None:
    clock, (a, b) = fleet(table, 2)
    a.queue.enqueue("/f", [seen(1)])
    (job,) = a.claims.claim(8)
    sent(a, job, "r1", "n.jpg", "sha")
    assert b.polls.due(others_late_by=2) == []  # a's, and a polls it in time
    clock.advance(3)  # a is not polling it (dead, or stalled)
    assert [r.id for r in b.polls.due(others_late_by=2)] == ["r1"]


def test_sweeping_leases_never_waits_for_work_in_progress(postgres: object) -> None:
    """PostgreSQL: while the submitter records a request (its claims and its reservation held
    in one transaction), the same daemon's lease sweep passes over those rows instead of
    waiting for them: waiting, each would hold what the other needs (a deadlock seen with
    three daemons)."""
    from conftest import new_database

    table = JobTable.open(new_database(postgres), worker="host:1")  # type: ignore[arg-type]
    table.queue.enqueue("/f", [seen(1), seen(2)])
    first, _second = table.claims.claim(8)
    _, reservation = table.spending.reserve(lambda _committed: (1, 3))
    with table.engine.connect() as recording:  # the submitter, mid-transaction
        recording.execute(
            Job.__table__.update().where(Job.id == first.id).values(error="recording")
        )
        recording.execute(
            ApiRequest.__table__.update().where(ApiRequest.id == reservation).values(error="x")
        )
        renewed: list[int] = []
        held = ([first.id, _second.id], [reservation or ""])
        sweep = threading.Thread(target=lambda: renewed.append(table.claims.renew(*held)))
        sweep.start()
        sweep.join(timeout=10)
        assert renewed == [1], "the sweep waited for rows another transaction holds"
        assert table.claims.take_back_lapsed() == 0
        recording.rollback()
    assert table.claims.renew(*held) == 3  # both claims and the reservation, once free
    table.close()


def test_review_apply_untag_and_refresh_move_jobs_as_the_user_asks(table: JobTable) -> None:
    """Held for review, applied by one process, untagged, refreshed past the cache: the
    stored result is replaced in place by a fresh answer, and only the chosen jobs move."""
    table.queue.enqueue("/f", [seen(1), seen(2), seen(3)])
    ids = submit(table, "req-1")
    assets = {job: {"name": f"n{job}.jpg", "tags": {"old": []}} for job in ids}
    table.polls.complete("req-1", 9, 91, assets, [], {}, retry_delay=0, max_attempts=3)
    table.writes.hold([task.job_id for task in table.writes.tasks()])
    assert table.reports.counts()["review"] == 3 and table.writes.tasks() == []
    assert [task.job_id for task in table.writes.waiting(None)] == ids
    other = JobTable.open(str(table.engine.url.render_as_string(hide_password=False)),
                          worker="apply:2")  # fmt: skip
    try:
        assert other.writes.approve([Scope("/f", "IMG_1.jpg")]) == [ids[0]]
        assert table.writes.tasks() == []  # the applying process holds it, approved
        (task,) = other.writes.mine([ids[0]])
        assert task.approved
        other.writes.done([ids[0]])
    finally:
        other.close()
    assert table.queue.untag([Scope("/f", "IMG_2.jpg")]) == (1, [(ids[1], "/f/IMG_2.jpg")])
    assert table.queue.untag([Scope("/f", "IMG_2.jpg")]) == (0, [(ids[1], "/f/IMG_2.jpg")])
    enqueued = table.queue.enqueue("/f", [seen(2, size=11)])
    assert enqueued["updated"] == 1 and table.reports.states([ids[1]]) == {
        ids[1]: State.UNTAGGED
    }  # a change does not re-tag an untagged file
    assert table.queue.refresh("/f", ["IMG_1.jpg", "IMG_2.jpg", "IMG_9.jpg"]) == 2
    claimed = {job.id: job for job in table.claims.claim(8)}
    assert sorted(claimed) == ids[:2] and all(job.refresh for job in claimed.values())
    result_before = row(table, ids[2]).result_id
    uploads = [Upload(j, f"n{j}.jpg", f"sha{j}", 10, 0) for j in sorted(claimed)]
    table.requests.mark_submitted("req-2", None, OPTIONS, uploads, first_poll_in=0)
    fresh = {job: {"name": f"n{job}.jpg", "tags": {"new": []}} for job in claimed}
    table.polls.complete("req-2", 6, 85, fresh, [], {}, retry_delay=0, max_attempts=3)
    tasks = {task.job_id: task for task in table.writes.tasks()}
    assert sorted(tasks) == ids[:2] and all(t.asset["tags"] == {"new": []} for t in tasks.values())
    assert not row(table, ids[0]).refresh and row(table, ids[2]).result_id == result_before
    assert table.results.cached([f"sha{ids[0]}"], OPTIONS) == {
        f"sha{ids[0]}": row(table, ids[0]).result_id
    }  # one result per content and options: replaced, not added


def test_taking_work_reads_the_queue_in_index_order_never_sorting_all_of_it(
    tmp_path: Path,
) -> None:
    """A million-file scan once slowed as its sidecar writes piled up: taking the next
    fifty sorted every job waiting to be written. SQLite's own plan for each statement that
    takes work must show no sort of the rows it reads."""
    table = JobTable.open(f"sqlite:///{tmp_path / 'state.db'}", worker="test:1")
    table.queue.enqueue("/f", [seen(n) for n in range(4)])
    first, _ = table.claims.claim(2)
    sent(table, first, "r1", "n.jpg", "same")
    table.polls.complete("r1", 3, 97, {first.id: {"name": "n.jpg"}}, [], {},
                            retry_delay=0, max_attempts=3)  # fmt: skip
    statements: list[tuple[str, object]] = []

    def grab(_conn: object, _cursor: object, statement: str, parameters: object,
             _context: object, _many: bool) -> None:  # fmt: skip
        statements.append((statement, parameters))

    event.listen(table.engine, "before_cursor_execute", grab)
    assert table.claims.claim(2) and table.writes.tasks()
    event.remove(table.engine, "before_cursor_execute", grab)
    taking = [(s, p) for s, p in statements if "LIMIT" in s.upper()]
    assert len(taking) >= 2  # the claim and the writes taken
    with table.engine.connect() as conn:
        for statement, parameters in taking:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            assert not any("TEMP B-TREE" in str(row[-1]) for row in plan), (statement, plan)
    table.close()


def test_a_failed_step_gives_back_what_it_took_and_nothing_else_is_renewed(
    table: JobTable,
) -> None:
    """What a stage's step takes is held while the step runs. A step that fails gives it
    all back at once; what nothing holds any more (a step that could not give it back) is
    not renewed, and lapses for any daemon to take."""
    clock, (a, b) = fleet(table, 2)
    a.queue.enqueue("/f", [seen(1), seen(2), seen(3), seen(4)])
    with pytest.raises(RuntimeError), a.claims.holding() as step:
        claimed = a.claims.claim(8)
        step.take(jobs=[job.id for job in claimed])
        raise RuntimeError("a bug midway through the batch")
    assert table.reports.counts()["pending"] == 4  # all back in the queue, at once
    first, second, third, fourth = a.claims.claim(8)
    sent(a, first, "r1", "n.jpg", "sha1")
    sent(a, second, "r2", "m.jpg", "sha2")
    a.polls.complete("r1", 3, 97, {first.id: {"name": "n.jpg"}}, [], {},
                        retry_delay=0, max_attempts=3)  # fmt: skip
    with pytest.raises(RuntimeError), a.writes.holding() as step:
        (task,) = a.writes.tasks()
        step.take(jobs=[task.job_id])
        due = a.polls.due()
        step.take(requests=[request.id for request in due])
        assert b.writes.tasks() == [] and b.polls.due(others_late_by=0) == []  # a's now
        raise RuntimeError("a poll that raised")
    assert [t.job_id for t in b.writes.tasks()] == [first.id]  # given back: anyone's
    assert [r.id for r in b.polls.due(others_late_by=0)] == ["r2"]
    # a step that could not give back what it took (the table away): nothing renews it
    assert a.daemon.held.now() == ([], [])
    assert a.claims.renew(*a.daemon.held.now()) == 0
    with a.claims.holding() as step:
        step.take(jobs=[third.id])  # a step at work holds its claim...
        clock.advance(59)
        assert a.claims.renew(*a.daemon.held.now()) == 1  # ...and it is renewed
    clock.advance(2)
    assert b.claims.take_back_lapsed() == 1  # the fourth, held by no step: it lapsed
    assert table.reports.states([third.id, fourth.id]) == {
        third.id: State.CLAIMED, fourth.id: State.PENDING,
    }  # fmt: skip


def test_what_a_failed_step_could_not_give_back_goes_back_once_the_table_is(
    tmp_path: Path,
) -> None:
    """The table refused the give-back too (locked here; a server away in a fleet): the
    claims wait, not renewed, and go back as soon as this daemon can give them back,
    rather than a lease later, when another daemon's grace after the outage is over."""
    table = JobTable.open(f"sqlite:///{tmp_path / 'state.db'}", worker="a", busy_timeout=0.2)
    table.queue.enqueue("/f", [seen(1), seen(2)])
    blocker = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    ids = []
    with pytest.raises(RuntimeError), table.claims.holding() as step:
        ids = [job.id for job in table.claims.claim(8)]
        step.take(jobs=ids)
        blocker.execute("BEGIN IMMEDIATE")  # another program holds the table
        raise RuntimeError("the step fails while the table is locked")
    assert table.daemon.held.now() == ([], [])  # not renewed: it would lapse
    blocker.execute("ROLLBACK")
    assert set(table.reports.states(ids).values()) == {State.CLAIMED}  # still claimed...
    table.claims.give_back_abandoned()
    assert set(table.reports.states(ids).values()) == {State.PENDING}  # ...until given back
    blocker.close()
    table.close()
