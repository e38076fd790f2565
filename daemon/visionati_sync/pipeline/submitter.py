"""Turning pending jobs into uploads: claim a batch, prepare each file (hash it, and convert
what the API does not take, on a pool of threads sized to the cores, so the API is not left
waiting on a decoder), serve what was tagged before from the results cache, and upload the
rest, one request per set of options, within the in-flight, size and budget limits. What a
refusal means for the files is decided in ``policy``; this stage carries it out."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from ..api.client import ApiClient
from ..api.options import RequestOptions
from ..api.pacing import PollPacer
from ..config import ApiSettings, SidecarSettings
from ..jobtable import Holding, JobTable
from ..log import bound_contextvars, get_logger
from ..records import ClaimedJob, Clock, Scope, State, utcnow
from ..renditions import FileProblem, Prepared, RenditionSettings, prepare
from ..rules import policy
from ..rules.claiming import ClaimSize
from ..rules.retry import Backoff
from ..sidecars import SidecarError, preflight
from . import counters
from .budget import Allowance, Budget, Committed
from .gate import Gate
from .journal import Journal
from .upload import Batch, Ready, Uploader, upload_of

log = get_logger("submitter")

Group = tuple[RequestOptions, tuple[tuple[str, int], ...]]  # the options, a video's fields
T = TypeVar("T")
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
        sidecars: Callable[[str], SidecarSettings] | None = None,
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
        plain = SidecarSettings()
        self.sidecars = sidecars or (lambda _folder: plain)  # each folder's own targets
        self.renditions = renditions or RenditionSettings()
        self.clock = clock
        self.uploader = Uploader(
            table, self.client, api, gate, backoff=self.backoff,
            pacer=pacer or PollPacer(api.poll_interval), journal=journal,
            send_file_names=send_file_names, settle_seconds=settle_seconds, on_sent=on_sent,
            on_results=on_results,
        )  # fmt: skip
        self.pool = ThreadPoolExecutor(max(1, os.cpu_count() or 1), "prepare")
        self.claim_size = ClaimSize(api.batch_size)

    def step(self, scopes: Sequence[Scope] | None = None) -> bool:
        """One batch, in the order a reader follows it: claim, prepare, serve from the
        cache (or a request in flight), choose what goes together, and hand each request
        to the uploader (build, post, record). Returns whether there was anything to do.
        Uploads the API answered and the job table has not recorded (it was away) are
        recorded first: nothing more goes out while the table cannot record what it costs."""
        self.uploader.record_journal()
        if not self.gate.is_open(self.client):
            return False
        if self.table.requests.outstanding() >= self.api.max_inflight_requests:
            return False  # the poller frees a place when a request completes
        with self.claims.holding() as holding:  # a step that fails gives back what it took
            claimed = self.claims.claim(self.claim_size.now, scopes)
            holding.take(jobs=[job.id for job in claimed])
            if not claimed:
                return False
            served = 0
            for (options, fields), ready in self._prepare_all(claimed).items():
                left = self._serve_from_cache(options, ready)
                served += len(ready) - len(left)
                batch = self._choose(options, dict(fields), self._join_in_flight(options, left),
                                     holding)  # fmt: skip
                if batch is not None:
                    self.uploader.send(batch)
        self.claim_size.after(len(claimed), served)
        return True

    def _prepare_all(self, claimed: list[ClaimedJob]) -> dict[Group, list[Ready]]:
        """The claimed files that can go, prepared, by the options and fields they go with
        (one request each); what cannot go is said and set aside now, costing nothing."""
        groups: dict[Group, list[Ready]] = {}
        for job, outcome in zip(claimed, self._prepared(claimed), strict=True):
            with bound_contextvars(job_id=job.id, path=job.path):
                prepared = self._check(job, outcome)
                if prepared is not None:
                    group = (self.options_for(job.folder), prepared.fields)
                    groups.setdefault(group, []).append((job, prepared))
        return groups

    def _choose(
        self, options: RequestOptions, fields: dict[str, int], ready: list[Ready],
        holding: Holding,
    ) -> Batch | None:  # fmt: skip
        """Of files to upload under one set of options, what one request carries: one file
        per content (the others ride on it), the most restricted batches first, whose
        sidecars can be written, within the size cap and the budget, its credits reserved.
        The rest goes back to the queue. None when nothing goes."""
        # of a content's files, one whose own bytes go uploads it (a JPEG, not the RAW
        # that shares its result and would send the JPEG's bytes under its own name)
        ready = sorted(ready, key=lambda item: not item[1].sends_itself)
        firsts, copies = policy.one_per_content([(item, item[1].content_key) for item in ready])
        firsts = self._writable(self._one_request(firsts))
        firsts, reservation = self._within_limits(options, firsts, holding)
        going = {prepared.content_key for _, prepared in firsts}
        riders = [item for item in copies if item[1].content_key in going]
        self.claims.release([job.id for job, p in copies if p.content_key not in going])
        return None if reservation is None else Batch(options, fields, firsts, riders, reservation)

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
                preflight(Path(job.path), self.sidecars(job.folder))
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
        results = self.table.results
        fresh = [item for item in ready if item[0].refresh]
        ready = [item for item in ready if not item[0].refresh]
        hashes = [prepared.content_key for _, prepared in ready]
        hits, rest = _by_content(ready, results.cached(hashes, options))
        rest += fresh
        results.reuse([(upload_of(job, prepared), rid) for job, prepared, rid in hits])
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
                if not requests.ride([upload_of(job, prepared)], request_id):
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

        keep, reservation = self.table.spending.reserve(decide)
        holding.take(requests=[reservation] if reservation else [])
        if not keep:
            (allowance,) = allowances
            reason = allowance.reason or "budget reached"
            seconds = allowance.wait_seconds(self.clock())
            self.gate.pause(policy.Pause(policy.PauseKind.BUDGET, reason, seconds))
        self.claims.release([job.id for job, _ in ready[keep:]])
        return ready[:keep], reservation


def _by_content(
    ready: list[Ready], known: dict[str, T]
) -> tuple[list[tuple[ClaimedJob, Prepared, T]], list[Ready]]:
    """Given a batch and what is known of some contents (by content key), the files whose
    content is known, with what is known of it, and the rest."""
    found = [(job, p, known[p.content_key]) for job, p in ready if p.content_key in known]
    return found, [(job, p) for job, p in ready if p.content_key not in known]
