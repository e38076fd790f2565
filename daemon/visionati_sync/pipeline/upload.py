"""One request, from files chosen to an answer written down: its parts named and its body
written (``build``: a file sent as it is is hashed as it streams, and a batch where one
changed since it was read goes back), posted to the API (``post``: a refusal becomes what
``rules/policy`` says for the files and for uploads), and what the API took written down
(``record``: the journal first, then the job table)."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO

from ..api.client import Accepted, ApiClient, ApiError, Completed
from ..api.options import RequestOptions
from ..api.pacing import PollPacer
from ..config import ApiSettings
from ..jobtable import JobTable
from ..log import bound_contextvars, get_logger
from ..records import ClaimedJob, State, Upload
from ..renditions import FileProblem, Part, Prepared
from ..rules import policy
from ..rules.retry import Backoff
from . import counters
from .gate import Gate
from .journal import Journal, PaidUpload, record_paid, replay
from .payload import request_names, write_body

log = get_logger("submitter")

Ready = tuple[ClaimedJob, Prepared]


@dataclass(frozen=True)
class Batch:
    """What one request carries: files under one set of options (and a video's fields),
    copies of their bytes that wait for its result (``riders``), and the reservation of
    its credits."""

    options: RequestOptions
    fields: dict[str, int]
    ready: list[Ready]
    riders: list[Ready]
    reservation: str


@dataclass(frozen=True)
class Built:
    """A request's body, written to a temporary file, and the name each part goes by."""

    body: IO[bytes]
    names: list[str]
    by_job: dict[int, list[str]]


class Uploader:
    """Given the job table, an API client, the ``api`` settings and the gate, sends batches;
    ``journal`` keeps what the API answered until the table has it; ``pacer`` says when to
    poll what went; ``on_sent`` and ``on_results`` wake the poller and the writer."""

    def __init__(
        self, table: JobTable, client: ApiClient, api: ApiSettings, gate: Gate, *,
        backoff: Backoff, pacer: PollPacer, journal: Journal | None, send_file_names: bool,
        settle_seconds: float, on_sent: Callable[[], None], on_results: Callable[[], None],
    ) -> None:  # fmt: skip
        self.table, self.claims, self.client = table, table.claims, client
        self.api, self.gate, self.backoff, self.pacer = api, gate, backoff, pacer
        self.journal = journal
        self.send_file_names = send_file_names  # else synthetic names (``payload``)
        self.settle_seconds = settle_seconds
        self.on_sent, self.on_results = on_sent, on_results

    def send(self, batch: Batch) -> None:
        """Upload ``batch.ready`` in one request; its riders wait for its result, or go back
        to the queue untouched if it does not go out. Files whose claim lapsed meanwhile
        (this daemon stalled past its lease) are another's now: left out."""
        batch = self._still_held(batch)
        if not batch.ready:
            self.table.spending.unreserve(batch.reservation)
            return
        with tempfile.TemporaryFile(prefix="visionati-sync-body-") as body:
            try:
                built = self.build(batch, body)
            except BaseException:  # nothing went: its reservation goes, not counted as spent
                with contextlib.suppress(Exception):
                    self.table.spending.unreserve(batch.reservation)
                raise
            answer = None if built is None else self.post(batch, built)
        if built is None or answer is None:  # it did not go: nothing spent, riders back
            self.table.spending.unreserve(batch.reservation)
            self.claims.release([job.id for job, _ in batch.riders])
            return
        paid = self.paid(batch, built, answer)
        self.record(paid)
        log.debug("uploaded", request_id=paid.request_id, files=built.names,
                  copies_waiting=len(batch.riders))  # fmt: skip
        self.on_sent()

    def _still_held(self, batch: Batch) -> Batch:
        jobs = [job.id for job, _ in batch.ready + batch.riders]
        held = self.claims.held(jobs)
        if len(held) == len(jobs):
            return batch
        lost = [job.relpath for job, _ in batch.ready + batch.riders if job.id not in held]
        log.warning("claims lapsed before the upload; left to another daemon", files=lost)
        ready = [item for item in batch.ready if item[0].id in held]
        riders = [item for item in batch.riders if item[0].id in held]
        return Batch(batch.options, batch.fields, ready, riders, batch.reservation)

    def build(self, batch: Batch, body: IO[bytes]) -> Built | None:
        """Name the parts (for the file whose bytes go: a paired RAW's JPEG) and write the
        body; None when a file changed while it was read (its batch went back)."""
        ready = sorted(batch.ready, key=lambda item: item[0].id)  # in the order polls read
        parts = [(job, prepared, part) for job, prepared in ready for part in prepared.parts]
        names = request_names(
            [(PurePosixPath(part.path).name, part, p.format.name) for _, p, part in parts],
            real=self.send_file_names,
        )
        named = [(name, part) for name, (_, _, part) in zip(names, parts, strict=True)]
        payload = batch.options.payload_fields() | batch.fields
        if self._write_body(body, payload, ready, named) is not None:
            return None
        by_job: dict[int, list[str]] = {}
        for name, (job, _, _) in zip(names, parts, strict=True):
            by_job.setdefault(job.id, []).append(name)
        return Built(body, names, by_job)

    def post(self, batch: Batch, built: Built) -> Accepted | Completed | None:
        """Send the body; the API's answer, or None when it refused (what that means for
        the files and for uploads is done)."""
        try:
            answer = self.client.submit(built.body)
        except ApiError as exc:
            self._refused([job for job, _ in batch.ready], exc)
            return None
        self.gate.reached()
        counters.UPLOADS.inc()
        counters.UPLOADED_FILES.inc(len(batch.ready))
        return answer

    def paid(self, batch: Batch, built: Built, answer: Accepted | Completed) -> PaidUpload:
        """What the job table is to record of an answered request."""
        options, ready = batch.options, batch.ready
        return PaidUpload(
            request_id=answer.request_id or f"sync-{uuid.uuid4()}",
            response_uri=None if isinstance(answer, Completed) else answer.response_uri,
            options=options.as_dict(),
            uploads=[upload_of(job, prepared, built.by_job[job.id]) for job, prepared in ready],
            riders=[upload_of(job, checked) for job, checked in batch.riders],
            reservation=batch.reservation,
            credits_estimated=sum(p.images for _, p in ready) * options.credits_per_image(),
            first_poll_in=self.pacer.first_poll(options.fingerprint()),
            completed=answer if isinstance(answer, Completed) else None,
        )

    def record(self, paid: PaidUpload) -> None:
        """The API has taken the request, and its credits: write it down, in the journal
        first (durable, whatever happens next: a kill, the database away), then in the job
        table; the journal's entry goes once the table has it."""
        entry = None
        if self.journal is not None:
            try:
                entry = self.journal.write(paid)
            except OSError as exc:  # its folder refused: the table alone, at once
                log.error("cannot keep the answer in the journal", request_id=paid.request_id,
                          error=exc.strerror or str(exc))  # fmt: skip
        try:
            record_paid(
                self.table, paid,
                retry_delay=self.backoff.delay(1), max_attempts=self.api.max_attempts,
            )  # fmt: skip
        except Exception:
            if entry is not None:
                log.warning(
                    "the API took this request; the job table cannot record it now: it is "
                    "kept in the journal, and recorded before anything more is uploaded",
                    request_id=paid.request_id, journal=str(entry),
                )  # fmt: skip
            raise
        if entry is not None and self.journal is not None:
            self.journal.done(entry)
        if paid.completed is not None:  # answered at once: its results are stored
            self.on_results()

    def record_journal(self) -> int:
        """Record what this worker's journal holds (answered uploads the job table was away
        for); raises while the table still cannot. Returns how many were recorded."""
        if self.journal is None:
            return 0
        return replay(
            self.journal, self.table,
            retry_delay=self.backoff.delay(1), max_attempts=self.api.max_attempts,
        )  # fmt: skip

    def _write_body(
        self, body: IO[bytes], payload: dict[str, object], ready: list[Ready],
        named: list[tuple[str, Part]],
    ) -> str | None:  # fmt: skip
        """Write the request's body; if a file sent as it is changed since it was checked,
        put the batch back (the changed ones after a settle) and say why."""
        jobs = [job for job, _ in ready]
        try:
            sent = dict(zip((part.path for _, part in named), write_body(body, named, payload),
                            strict=True))  # fmt: skip
        except FileProblem as problem:  # changed under us: check each again next round
            log.warning("a file changed while being read; re-queued", reason=problem.reason)
            self.claims.release([j.id for j in jobs])
            return problem.reason
        changed = [
            j for j, p in ready
            if any(part.data is None and sent.get(part.path) != part.sha256 for part in p.parts)
        ]  # fmt: skip
        if changed:
            for job in changed:
                log.warning("file changed while being read; waiting for it", path=job.path)
            self.claims.release([j.id for j in changed], delay=self.settle_seconds)
            self.claims.release([j.id for j in jobs if j not in changed])
            return "a file changed while being read"
        return None

    def _refused(self, jobs: list[ClaimedJob], exc: ApiError) -> None:
        counters.API_ERRORS.labels(type(exc).__name__).inc()
        verdict = policy.after_upload_error(exc, len(jobs), self.backoff)
        ids = [job.id for job in jobs]
        match verdict.files:
            case policy.Release(delay, error, fault=True):
                outcome = self.claims.faulted(
                    jobs, error or exc.message, delay, self.api.max_server_faults
                )
                if outcome != "wait":
                    log.warning("the API faults on every upload of these files", outcome=outcome,
                                files=[job.relpath for job in jobs])  # fmt: skip
            case policy.Release(delay, error):
                self.claims.release(ids, delay=delay, error=error)
            case policy.Skip(reason):
                self.claims.not_sent(ids[0], State.SKIPPED, reason)
            case policy.Split(error):
                log.warning("the API refused the batch; its files go in smaller ones", error=error)
                self.claims.split(ids, error)
            case policy.Retry(error):
                for job in jobs:
                    self._retry(job, error)
        if verdict.pause is not None:
            self.gate.pause(verdict.pause)

    def _retry(self, job: ClaimedJob, error: str) -> None:
        with bound_contextvars(job_id=job.id, path=job.path):
            delay = self.backoff.delay(job.attempts + 1)
            again = self.claims.retry_later(job.id, error, delay, self.api.max_attempts)
            (log.warning if again else log.error)(
                "upload failed" + ("; will retry" if again else "; giving up"), error=error
            )


def upload_of(job: ClaimedJob, prepared: Prepared, names: Sequence[str] = ()) -> Upload:
    return Upload(
        job.id, "\n".join(names), prepared.content_key, prepared.size, prepared.mtime_ns,
        prepared.file_sha256, prepared.sent,
    )  # fmt: skip
