"""Turning pending jobs into uploads: claim a batch, prepare each file (hash it, and convert
what the API does not take, on a pool of threads sized to the cores, so the API is not left
waiting on a decoder), serve what was tagged before from the results cache, and upload the
rest, one request per set of options, within the in-flight, size and budget limits. What a
refusal means for the files is decided in ``policy``; this stage carries it out."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import IO, TypeVar

from structlog.contextvars import bound_contextvars

from ..api.client import ApiClient, ApiError, Completed
from ..api.options import RequestOptions
from ..api.pacing import PollPacer
from ..config import ApiSettings, SidecarSettings
from ..jobtable import Holding, JobTable
from ..log import get_logger
from ..records import ClaimedJob, Clock, Scope, State, Upload, utcnow
from ..renditions import FileProblem, Part, Prepared, RenditionSettings, prepare
from ..rules import policy
from ..rules.retry import Backoff
from ..sidecars import SidecarError, preflight
from . import counters
from .budget import Allowance, Budget, Committed
from .gate import Gate
from .journal import Journal, PaidUpload, record_paid, replay
from .payload import request_names, write_body

log = get_logger("submitter")

Ready = tuple[ClaimedJob, Prepared]
Group = tuple[RequestOptions, tuple[tuple[str, int], ...]]  # the options, a video's fields
T = TypeVar("T")
CACHE_BATCH = 64  # files claimed at once while the results cache serves them all
INLINE_BYTES = 4 * 1024 * 1024  # a batch this small is prepared without the pool


class Submitter:
    def __init__(
        self,
        table: JobTable,
        client_factory: Callable[[], ApiClient],
        api: ApiSettings,
        gate: Gate,
        *,
        options_for: Callable[[str], RequestOptions] | None = None,
        budget: Budget | None = None,
        settle_seconds: float = 2.0,
        backoff: Backoff | None = None,
        on_results: Callable[[], None] = lambda: None,
        sidecars: SidecarSettings | None = None,
        renditions: RenditionSettings | None = None,
        clock: Clock = utcnow,
        pacer: PollPacer | None = None,
        on_sent: Callable[[], None] = lambda: None,
        send_file_names: bool = False,
        journal: Journal | None = None,
    ) -> None:
        self.table = table
        self.claims = table.claims
        self.client = client_factory()
        self.api = api
        default = api.request_options()
        self.options_for = options_for or (lambda _folder: default)
        self.budget = budget or Budget(
            table.reports, api.max_credits_per_day, api.max_credits_total
        )
        self.gate = gate
        self.settle_seconds = settle_seconds
        self.backoff = backoff or Backoff()
        self.on_results = on_results
        self.sidecars = sidecars or SidecarSettings()
        self.renditions = renditions or RenditionSettings()
        self.clock = clock
        self.pacer = pacer or PollPacer(api.poll_interval)  # when to poll what is sent
        self.on_sent = on_sent  # a request went: the poller learns when to poll it
        self.send_file_names = send_file_names  # else synthetic names (``payload``)
        self.journal = journal  # answered uploads, kept until the job table has them
        self.pool = ThreadPoolExecutor(max(1, os.cpu_count() or 1), "prepare")
        self._claim = api.batch_size  # grows while the cache serves every file claimed

    def step(self, scopes: Sequence[Scope] | None = None) -> bool:
        """Claim and handle one batch; return whether there was anything to do. Uploads
        the API answered and the job table has not recorded (it was away) are recorded
        first: nothing more goes out while the table cannot record what it costs."""
        self.record_journal()
        if not self.gate.is_open(self.client):
            return False
        if self.table.requests.outstanding() >= self.api.max_inflight_requests:
            return False  # the poller frees a place when a request completes
        with self.claims.holding() as holding:  # a step that fails gives back what it took
            claimed = self.claims.claim(self._claim, scopes)
            holding.take(jobs=[job.id for job in claimed])
            if not claimed:
                return False
            served = self._send(claimed, holding)
        # a library of copies is served by the cache in larger batches (fewer transactions);
        # back to a request's size as soon as a file has to go
        full = served == len(claimed)
        self._claim = min(CACHE_BATCH, self._claim * 2) if full else self.api.batch_size
        return True

    def _send(self, claimed: list[ClaimedJob], holding: Holding) -> int:
        """Prepare a claimed batch, serve what the cache and requests in flight can, and
        upload the rest, a request per set of options. Returns how many the cache served."""
        served = 0
        groups: dict[Group, list[Ready]] = {}
        for job, outcome in zip(claimed, self._prepared(claimed), strict=True):
            with bound_contextvars(job_id=job.id, path=job.path):
                prepared = self._check(job, outcome)
                if prepared is not None:
                    group = (self.options_for(job.folder), prepared.fields)
                    groups.setdefault(group, []).append((job, prepared))
        for (options, fields), ready in groups.items():
            left = self._serve_from_cache(options, ready)
            served += len(ready) - len(left)
            ready = left
            ready = self._join_in_flight(options, ready)
            # of a content's files, one whose own bytes go uploads it (a JPEG, not the RAW
            # that shares its result and would send the JPEG's bytes under its own name)
            ready = sorted(ready, key=lambda item: not item[1].sends_itself)
            firsts, copies = policy.one_per_content([(item, item[1].content_key) for item in ready])
            firsts = self._writable(self._one_request(firsts))
            firsts, reservation = self._within_limits(options, firsts, holding)
            going = {prepared.content_key for _, prepared in firsts}
            riders = [item for item in copies if item[1].content_key in going]
            self.claims.release([job.id for job, p in copies if p.content_key not in going])
            if reservation is not None:
                self._upload(options, dict(fields), firsts, riders, reservation)
        return served

    def _prepared(self, claimed: list[ClaimedJob]) -> Iterable[Prepared | FileProblem]:
        """Each claimed file prepared: on the pool when there is reading worth sharing out
        (hashing and decoding run outside the GIL), here when the files are small, where
        handing each to a thread and back costs more than the work."""
        if sum(job.size for job in claimed) < INLINE_BYTES:
            return map(self._prepare, claimed)
        return self.pool.map(self._prepare, claimed)

    def _prepare(self, job: ClaimedJob) -> Prepared | FileProblem:
        """What to send for the file, or why it cannot go (never raises)."""
        try:
            return prepare(job.path, self.renditions)
        except FileProblem as exc:
            return exc
        except Exception as exc:  # a decoder's own failure must not stop the batch
            log.exception("preparing the file failed", job_id=job.id, path=job.path)
            return FileProblem("failed", f"cannot be prepared: {type(exc).__name__}: {exc}")

    def _check(self, job: ClaimedJob, outcome: Prepared | FileProblem) -> Prepared | None:
        """A file goes only if it can be read: a problem found now costs nothing."""
        if isinstance(outcome, Prepared):
            return outcome
        if outcome.kind == "vanished":
            log.warning("file vanished before upload; dropped from the queue")
            self.claims.drop_vanished(job)
        elif outcome.kind == "changed":
            log.info("file not ready; waiting for it", reason=outcome.reason)
            delay = self.settle_seconds if outcome.retry_in is None else outcome.retry_in
            self.claims.release([job.id], delay=delay)
        else:
            state = State.SKIPPED if outcome.kind == "skipped" else State.FAILED
            log.warning(f"file {state}", reason=outcome.reason)
            self.claims.not_sent(job.id, state, outcome.reason)
        return None

    def _writable(self, ready: list[Ready]) -> list[Ready]:
        """The files whose sidecars can be written, of those about to be uploaded: a problem
        found now costs nothing, one found after the upload costs its credits. (A file the
        cache serves costs nothing either way: the writer says what keeps its sidecars out.)"""
        going = []
        for job, prepared in ready:
            try:
                preflight(Path(job.path), self.sidecars)
            except SidecarError as exc:
                with bound_contextvars(job_id=job.id, path=job.path):
                    log.warning("file failed before upload: its sidecars cannot be written",
                                reason=str(exc))  # fmt: skip
                    self.claims.not_sent(job.id, State.FAILED, str(exc))
                continue
            going.append((job, prepared))
        return going

    def _serve_from_cache(self, options: RequestOptions, ready: list[Ready]) -> list[Ready]:
        """Files whose bytes were tagged before under these options need no upload (unless
        the user asked for a fresh answer: ``scan --refresh``)."""
        requests = self.table.requests
        fresh = [item for item in ready if item[0].refresh]
        ready = [item for item in ready if not item[0].refresh]
        hashes = [prepared.content_key for _, prepared in ready]
        hits, rest = _by_content(ready, requests.cached_results(hashes, options))
        rest += fresh
        requests.use_cached([(_upload_of(job, prepared), rid) for job, prepared, rid in hits])
        for job, _, _ in hits:
            with bound_contextvars(job_id=job.id, path=job.path):
                log.debug("same bytes tagged before; result reused, no upload")
        if hits:
            counters.CACHE_HITS.inc(len(hits))
            self.on_results()
        return rest

    def _join_in_flight(self, options: RequestOptions, ready: list[Ready]) -> list[Ready]:
        """Files whose bytes are in a request already (copies that arrived together, in
        overlapping batches) wait for its result rather than pay for an upload of their own."""
        requests = self.table.requests
        hashes = [prepared.content_key for _, prepared in ready]
        riders, rest = _by_content(ready, requests.in_flight(hashes, options))
        for job, prepared, request_id in riders:
            with bound_contextvars(job_id=job.id, path=job.path):
                if not requests.ride([_upload_of(job, prepared)], request_id):
                    self.claims.release([job.id])  # answered meanwhile: the cache serves it
                    continue
                log.debug("same bytes already with the API; waiting for that result, no upload",
                          request_id=request_id)  # fmt: skip
        return rest

    def _one_request(self, ready: list[Ready]) -> list[Ready]:
        """The files that go together: those in the smallest batches since a batch of theirs
        failed go first, no more of them than any may be in; the rest wait for the next."""
        ready = sorted(ready, key=lambda item: item[0].batch_limit or self.api.batch_size)
        keep = policy.batch_for([job.batch_limit for job, _ in ready], self.api.batch_size)
        self.claims.release([job.id for job, _ in ready[keep:]])
        return ready[:keep]

    def _within_limits(
        self, options: RequestOptions, ready: list[Ready], holding: Holding
    ) -> tuple[list[Ready], str | None]:
        """Keep what fits in one request's size cap and in the budget, and reserve its
        credits (under the fleet's spending lock: daemons racing for the last credits cannot
        overspend); put the rest back. Returns what goes and its reservation."""
        if not ready:
            return ready, None
        per_image = options.credits_per_image()
        sizes = [policy.encoded_size(prepared.bytes_sent) for _, prepared in ready]
        costs = [per_image * prepared.images for _, prepared in ready]
        allowances: list[Allowance] = []

        def decide(committed: Committed) -> tuple[int, int]:
            allowance = self.budget.allowance(committed)
            allowances.append(allowance)
            keep = policy.fit_batch(sizes, self.api.max_request_bytes, costs, allowance.credits)
            return keep, sum(costs[:keep])

        keep, reservation = self.table.requests.reserve(decide)
        holding.take(requests=[reservation] if reservation else [])
        if not keep:
            (allowance,) = allowances
            reason = allowance.reason or "budget reached"
            seconds = allowance.wait_seconds(self.clock())
            self.gate.pause(policy.Pause(policy.PauseKind.BUDGET, reason, seconds))
        self.claims.release([job.id for job, _ in ready[keep:]])
        return ready[:keep], reservation

    def _upload(
        self, options: RequestOptions, fields: dict[str, int], ready: list[Ready],
        riders: list[Ready], reservation: str,
    ) -> None:  # fmt: skip
        """Upload ``ready`` in one request; ``riders`` (copies of their bytes) wait for its
        result, or go back to the queue untouched if it does not go out. Files whose claim
        lapsed meanwhile (this daemon stalled past its lease) are another's now: left out."""
        held = self.claims.held([job.id for job, _ in ready + riders])
        if len(held) < len(ready) + len(riders):
            lost = [job.relpath for job, _ in ready + riders if job.id not in held]
            log.warning("claims lapsed before the upload; left to another daemon", files=lost)
            ready = [item for item in ready if item[0].id in held]
            riders = [item for item in riders if item[0].id in held]
        if not ready:
            self.table.requests.unreserve(reservation)
            return
        ready = sorted(ready, key=lambda item: item[0].id)  # sent in the order polls read
        jobs = [job for job, _ in ready]
        parts = [(job, prepared, part) for job, prepared in ready for part in prepared.parts]
        names = request_names(  # named for the file whose bytes go (a paired RAW: its JPEG)
            [(PurePosixPath(part.path).name, part, p.format.name) for _, p, part in parts],
            real=self.send_file_names,
        )
        named = [(name, part) for name, (_, _, part) in zip(names, parts, strict=True)]
        payload = options.payload_fields() | fields
        with tempfile.TemporaryFile(prefix="visionati-sync-body-") as body:
            try:
                problem = self._write_body(body, payload, ready, named)
            except BaseException:  # nothing went: its reservation goes, not counted as spent
                with contextlib.suppress(Exception):
                    self.table.requests.unreserve(reservation)
                raise
            if problem is None:
                try:
                    answer = self.client.submit(body)
                except ApiError as exc:
                    self._refused(jobs, exc)
                    problem = exc.message
            if problem is not None:
                self.table.requests.unreserve(reservation)
                self.claims.release([job.id for job, _ in riders])
                return
        self.gate.reached()
        counters.UPLOADS.inc()
        counters.UPLOADED_FILES.inc(len(ready))
        by_job: dict[int, list[str]] = {}
        for name, (job, _, _) in zip(names, parts, strict=True):
            by_job.setdefault(job.id, []).append(name)
        request_id = answer.request_id or f"sync-{uuid.uuid4()}"
        self._keep(
            PaidUpload(
                request_id=request_id,
                response_uri=None if isinstance(answer, Completed) else answer.response_uri,
                options=options.as_dict(),
                uploads=[_upload_of(job, prepared, by_job[job.id]) for job, prepared in ready],
                riders=[_upload_of(job, checked) for job, checked in riders],
                reservation=reservation,
                credits_estimated=sum(p.images for _, p in ready) * options.credits_per_image(),
                first_poll_in=self.pacer.first_poll(options.fingerprint()),
                completed=answer if isinstance(answer, Completed) else None,
            )
        )
        log.debug("uploaded", request_id=request_id, files=names, copies_waiting=len(riders))
        self.on_sent()

    def _keep(self, paid: PaidUpload) -> None:
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
            self._record(paid)
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

    def _record(self, paid: PaidUpload) -> None:
        record_paid(
            self.table.requests, paid,
            retry_delay=self.backoff.delay(1), max_attempts=self.api.max_attempts,
        )  # fmt: skip
        if paid.completed is not None:
            self.on_results()

    def record_journal(self) -> int:
        """Record what this worker's journal holds (answered uploads the job table was away
        for); raises while the table still cannot. Returns how many were recorded."""
        if self.journal is None:
            return 0
        return replay(
            self.journal, self.table.requests,
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


def _upload_of(job: ClaimedJob, prepared: Prepared, names: Sequence[str] = ()) -> Upload:
    return Upload(
        job.id, "\n".join(names), prepared.content_key, prepared.size, prepared.mtime_ns,
        prepared.file_sha256, prepared.sent,
    )  # fmt: skip


def _by_content(
    ready: list[Ready], known: dict[str, T]
) -> tuple[list[tuple[ClaimedJob, Prepared, T]], list[Ready]]:
    """Given a batch and what is known of some contents (by content key), the files whose
    content is known, with what is known of it, and the rest."""
    found = [(job, p, known[p.content_key]) for job, p in ready if p.content_key in known]
    return found, [(job, p) for job, p in ready if p.content_key not in known]
