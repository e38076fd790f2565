"""The job state machine, in one place: which state may follow which, and what each state
sets. Every state change of a job goes through ``apply``, so a state's invariants (a pending
job holds no lock, no request and no result; a claimed one names its worker; …) are written
once, here, and not restated by each caller.

Each transition below names the states it may start from and those it may lead to; a new
file enters as pending (``new_job``), and a deleted one leaves from pending, done, failed or
skipped (``FORGETTABLE``). docs/architecture.md tabulates them with who makes each, and what
each state holds; a test keeps that table equal to this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Update, or_, select, update

from ..records import FileSeen, State, shown
from ..rules import policy
from .schema import Job

Values = dict[str, Any]


@dataclass(frozen=True)
class Transition:
    name: str
    sources: frozenset[State]
    targets: frozenset[State]


def _t(name: str, sources: set[State], *targets: State) -> Transition:
    return Transition(name, frozenset(sources), frozenset(targets))


P, C, S, W = State.PENDING, State.CLAIMED, State.SUBMITTED, State.WRITING
D, F, K = State.DONE, State.FAILED, State.SKIPPED
R, U = State.REVIEW, State.UNTAGGED

REQUEUE = _t("requeue", {D, F, K, R}, P)
RETAG = _t("retag", {D, U}, P)
REFRESH = _t("refresh", {D, U, R}, P)  # asked again of the API, past the results cache
RETRY = _t("retry", {F}, P)
CLAIM = _t("claim", {P}, C)
RELEASE = _t("release", {C}, P)
ORPHANED = _t("orphaned", {C}, P)
NOT_SENT = _t("not sent", {C}, F, K)
CACHED = _t("cached", {C}, W)
SUBMIT = _t("submit", {C}, S)
# its upload was answered while its claim lapsed (an outage longer than the lease): recorded
# late, from the uploader's journal, it joins the request that carries its bytes
ATTACH = _t("attach", {P, C}, S)
RIDE = _t("ride", {C}, S)  # its bytes are in a request already: it waits for that result
STRANDED = _t("stranded", {S}, P)  # its request ended without it (an older version's race)
TRY_AGAIN = _t("try again", {C, S}, P, F)
ANSWERED = _t("answered", {S}, W)
UNANSWERED = _t("unanswered", {S}, P, F)  # no result for it: an attempt, then again
WRITTEN = _t("written", {W}, D)
CHANGED = _t("changed", {W}, P)
WRITE_FAILED = _t("write failed", {W}, F)
WRITE_LATER = _t("write later", {W}, W)
TAKE_WRITE = _t("take write", {W}, W)  # a daemon holds its sidecar writes, for a lease
MOVED = _t("moved", {D}, W)
HOLD = _t("hold", {W}, R)  # its folder's results wait for review
APPLY = _t("apply", {R}, W)  # the user approved it: written, by whoever takes the write
UNTAG = _t("untag", {P, C, S, W, D, F, K, R}, U)  # our sidecars taken back; left alone
REJECT = _t("reject", {R}, U)  # the reviewer rejected its result: nothing written, left alone

TRANSITIONS = (
    REQUEUE, RETAG, RETRY, CLAIM, RELEASE, ORPHANED, NOT_SENT, CACHED, SUBMIT, ATTACH, RIDE,
    STRANDED,
    TRY_AGAIN, ANSWERED, UNANSWERED, WRITTEN, CHANGED, WRITE_FAILED, WRITE_LATER, TAKE_WRITE,
    MOVED, REFRESH, HOLD, APPLY, UNTAG, REJECT,
)  # fmt: skip
FORGETTABLE = frozenset({P, D, F, K, R, U})  # a deleted file's job is dropped from these
IN_FLIGHT = frozenset({C, S, W})  # a request or a write holds the job


# -- what each state sets ------------------------------------------------------------------


def pending(
    now: datetime, *, delay: float = 0.0, error: str | None = None, fresh: bool = False
) -> Values:
    """Back in the queue, due after ``delay``. ``fresh``: new content, or the user asked
    again, so the count of attempts starts over. (A refresh adds ``refresh``.)"""
    values: Values = {
        "state": P,
        "error": None if error is None else shown(error),
        "locked_by": None,
        "locked_at": None,
        "request_id": None,
        "result_id": None,
        "next_attempt_at": now + timedelta(seconds=delay),
        "updated_at": now,
    }
    if fresh:
        values["attempts"] = 0
    return values


def halved(now: datetime, error: str, files: int, *, delay: float = 0.0) -> Values:
    """Back in the queue, to go in smaller requests: a batch of ``files`` that the API failed
    or refused as a whole (no attempt: which file was it?)."""
    values = pending(now, delay=delay, error=f"{error}; tried in smaller batches")
    return values | {"batch_limit": policy.smaller_batch(files)}


def claimed(now: datetime, worker: str, lease_end: datetime) -> Values:
    """Taken by ``worker`` until ``lease_end`` (renewed while it works): after that, any
    daemon puts it back in the queue."""
    return {
        "state": C, "locked_by": worker, "locked_at": now, "next_attempt_at": lease_end,
        "updated_at": now,
    }  # fmt: skip


def writing_taken(now: datetime, worker: str, lease_end: datetime) -> Values:
    """Its sidecars are being written by ``worker``, until ``lease_end``: then they are due
    again, for any daemon."""
    return {"state": W, "locked_by": worker, "locked_at": now, "next_attempt_at": lease_end}


def submitted(now: datetime, request_id: str, *, uploaded: bool = True) -> Values:
    """In a request: uploaded in it (the API took it, so its run of faults ends), or riding
    on it because the same bytes are in it. The caller adds what was sent (name, hash,
    size, mtime) per file."""
    values: Values = {
        "state": S,
        "request_id": request_id,
        "upload_name": None,  # the caller names the file as uploaded, if it was
        "error": None,
        "locked_by": None,
        "locked_at": None,
        "updated_at": now,
    }
    if uploaded:
        values["faults"] = 0
    return values


def writing(now: datetime, result_id: Any, *, approved: bool = False) -> Values:
    """Its result is stored; sidecars are to be written (held for review first, unless
    ``approved``: the user applied it, or it was written before and moved). A refresh it
    was asked for is answered. ``result_id`` may be a bind parameter when many jobs get
    their results in one statement."""
    return {
        "state": W,
        "result_id": result_id,
        "approved": approved,
        "refresh": False,
        "error": None,
        "locked_by": None,
        "locked_at": None,
        "write_attempts": 0,
        "next_attempt_at": now,
        "updated_at": now,
    }


def write_later(now: datetime, error: str, delay: float) -> Values:
    """Still to be written: the disk or the folder refused (full, read-only, permissions).
    The paid result is kept and the write tried again after ``delay``, with no upload."""
    return {
        "state": W,
        "error": shown(error),
        "locked_by": None,
        "locked_at": None,
        "write_attempts": Job.write_attempts + 1,
        "next_attempt_at": now + timedelta(seconds=delay),
        "updated_at": now,
    }


def done(now: datetime) -> Values:
    return {
        "state": D, "error": None, "locked_by": None, "locked_at": None, "done_at": now,
        "updated_at": now,
    }  # fmt: skip


def held(now: datetime) -> Values:
    """Its result is stored and waits for the user: `preview` shows it, `apply` writes it."""
    return {"state": R, "error": None, "locked_by": None, "locked_at": None, "updated_at": now}


def applied(now: datetime, worker: str, lease_end: datetime) -> Values:
    """Approved by the user and taken by ``worker`` (the `apply` command) to write at once;
    until ``lease_end``: after that any daemon writes it."""
    return writing_taken(now, worker, lease_end) | {"approved": True, "updated_at": now}


def untagged(now: datetime) -> Values:
    """Our sidecars were taken back at the user's word; rescans leave it alone until
    `scan --retag` or `--refresh`. Its stored result is kept (a re-tag costs nothing)."""
    return {
        "state": U, "error": None, "locked_by": None, "locked_at": None, "request_id": None,
        "approved": False, "refresh": False, "updated_at": now,
    }  # fmt: skip


def rejected(now: datetime) -> Values:
    """The reviewer rejected its result: nothing is written, and it says so; like an
    untagged file, rescans leave it alone until `scan --retag` or `--refresh`."""
    return untagged(now) | {"error": "rejected in review"}


def ended(now: datetime, state: State, error: str) -> Values:
    """Failed or skipped, with the reason; the stored result (if any) is kept."""
    assert state in (F, K)
    return {
        "state": state,
        "error": shown(error),
        "locked_by": None,
        "locked_at": None,
        "request_id": None,
        "updated_at": now,
    }


def new_job(folder: str, seen: FileSeen, now: datetime) -> Values:
    """A file the table has not seen: it enters the queue."""
    return {
        "folder": folder,
        "relpath": seen.relpath,
        "state": P,
        "size": seen.size,
        "mtime_ns": seen.mtime_ns,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


# -- applying them -------------------------------------------------------------------------


def statement(transition: Transition, values: Values, *where: ColumnElement[bool]) -> Update:
    """Given a transition and the values of its target state, the UPDATE that makes it for
    the jobs ``where`` selects, if they are in one of its source states."""
    assert values["state"] in transition.targets, (transition.name, values["state"])
    # plain comparisons rather than IN: an expanding IN cannot be executed with many rows
    in_source = or_(*(Job.state == source for source in sorted(transition.sources)))
    return update(Job).where(in_source, *where).values(**values)


def apply(
    conn: Connection,
    transition: Transition,
    values: Values,
    *where: ColumnElement[bool],
    many: list[Values] | None = None,
) -> int:
    """Make a transition (see ``statement``); return how many jobs moved. With ``many``, one
    statement executed with each set of parameters."""
    query = statement(transition, values, *where)
    if many is None:
        return int(conn.execute(query).rowcount or 0)
    if many:
        conn.execute(query, many)
    return len(many)


def try_again(
    conn: Connection,
    now: datetime,
    job_ids: list[int],
    error: str,
    *,
    delay: float,
    max_attempts: int,
    count: bool,
    transition: Transition = TRY_AGAIN,
) -> list[int]:
    """Given jobs sent back, count an attempt if the API's answer was about them
    (``count``), and queue each again, or fail it once it has had ``max_attempts``. Returns
    the ids that will be tried again."""
    rows = conn.execute(
        select(Job.id, Job.attempts).where(Job.id.in_(job_ids), Job.state.in_(transition.sources))
    ).all()
    again = []
    for job_id, attempts in rows:
        attempts += 1 if count else 0
        if attempts < max_attempts:
            values = pending(now, delay=delay, error=error)
            again.append(job_id)
        else:
            values = ended(now, F, f"{error} (gave up after {attempts} attempts)")
        apply(conn, transition, values | {"attempts": attempts}, Job.id == job_id)
    return again
