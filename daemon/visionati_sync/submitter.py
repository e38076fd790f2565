"""Turning pending jobs into uploads: claim a batch, check and hash each file, serve what
was tagged before from the results cache, and upload the rest, one request per set of
options, within the in-flight, size and budget limits."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from structlog.contextvars import bound_contextvars

from . import catalog
from .budget import Budget
from .client import (
    AccessDenied,
    ApiClient,
    ApiError,
    Completed,
    FileTooLarge,
    OutOfCredits,
    TransientError,
)
from .config import ApiSettings
from .gate import Gate
from .jobs import FAILED, SKIPPED, ClaimedJob, JobStore, Scope, Upload, utcnow
from .log import get_logger
from .options import RequestOptions
from .payload import CheckedFile, FileProblem, check_file, unique_names, write_body
from .poller import record_completion
from .retry import Backoff

log = get_logger("submitter")

Ready = tuple[ClaimedJob, CheckedFile]


class Submitter:
    def __init__(
        self,
        store: JobStore,
        client_factory: Callable[[], ApiClient],
        api: ApiSettings,
        gate: Gate,
        *,
        options_for: Callable[[str], RequestOptions] | None = None,
        budget: Budget | None = None,
        settle_seconds: float = 2.0,
        backoff: Backoff | None = None,
        on_results: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.client = client_factory()
        self.api = api
        default = api.request_options()
        self.options_for = options_for or (lambda _folder: default)
        self.budget = budget or Budget(store, api.max_credits_per_day, api.max_credits_total)
        self.gate = gate
        self.settle_seconds = settle_seconds
        self.backoff = backoff or Backoff()
        self.on_results = on_results
        self.clock = clock

    def step(self, scopes: Sequence[Scope] = ()) -> bool:
        """Claim and handle one batch; return whether there was anything to do."""
        if not self.gate.is_open(self.client):
            return False
        if self.store.outstanding_requests() >= self.api.max_inflight_requests:
            return False  # the poller frees a place when a request completes
        claimed = self.store.claim(self.api.batch_size, scopes)
        if not claimed:
            return False
        groups: dict[RequestOptions, list[Ready]] = {}
        for job in claimed:
            with bound_contextvars(job_id=job.id, path=job.path):
                checked = self._check(job)
                if checked is not None:
                    groups.setdefault(self.options_for(job.folder), []).append((job, checked))
        for options, ready in groups.items():
            ready = self._serve_from_cache(options, ready)
            ready = self._within_limits(options, ready)
            if ready:
                self._upload(options, ready)
        return True

    def _serve_from_cache(self, options: RequestOptions, ready: list[Ready]) -> list[Ready]:
        """Files whose bytes were tagged before under these options need no upload."""
        cached = self.store.cached_results([checked.sha256 for _, checked in ready], options)
        rest = []
        for job, checked in ready:
            result_id = cached.get(checked.sha256)
            if result_id is None:
                rest.append((job, checked))
                continue
            with bound_contextvars(job_id=job.id, path=job.path):
                upload = Upload(job.id, "", checked.sha256, checked.size, checked.mtime_ns)
                self.store.use_cached(upload, result_id)
                log.info("same bytes tagged before; result reused, no upload")
        if len(rest) < len(ready):
            self.on_results()
        return rest

    def _check(self, job: ClaimedJob) -> CheckedFile | None:
        try:
            return check_file(job.path)
        except FileProblem as problem:
            if problem.kind == "vanished":
                log.warning("file vanished before upload; dropped from the queue")
                self.store.drop_vanished(job.id)
            else:
                state = SKIPPED if problem.kind == "skipped" else FAILED
                log.warning(f"file {state}", reason=problem.reason)
                self.store.finish_unsent(job.id, state, problem.reason)
            return None

    def _within_limits(self, options: RequestOptions, ready: list[Ready]) -> list[Ready]:
        """Keep what fits in one request's size cap and in the budget; put the rest back."""
        kept: list[Ready] = []
        size = 0
        for item in ready:
            encoded = (item[1].size + 2) // 3 * 4
            if kept and size + encoded > self.api.max_request_bytes:
                break
            kept.append(item)
            size += encoded
        per_image = catalog.credits_per_image(options.backends, options.features, options.prompt)
        allowance = self.budget.allowance()
        if allowance.credits is not None and per_image > 0:
            fits = allowance.credits // per_image
            if fits < len(kept):
                kept = kept[:fits]
                if not kept:
                    resume = allowance.resumes_at
                    wait = (resume - self.clock()).total_seconds() if resume else 3600.0
                    self.gate.close("budget", allowance.reason or "budget reached", max(wait, 1.0))
        self.store.release([job.id for job, _ in ready[len(kept) :]])
        return kept

    def _upload(self, options: RequestOptions, ready: list[Ready]) -> None:
        jobs = [job for job, _ in ready]
        names = unique_names([job.relpath for job in jobs])
        with tempfile.TemporaryFile(prefix="visionati-sync-body-") as body:
            try:
                sent = write_body(
                    body,
                    [(n, j.path) for n, j in zip(names, jobs, strict=True)],
                    options.payload_fields(),
                )
            except FileProblem as problem:  # changed under us: check each again next round
                log.warning("a file changed while being read; re-queued", reason=problem.reason)
                self.store.release([j.id for j in jobs])
                return
            changed = [j for (j, c), h in zip(ready, sent, strict=True) if c.sha256 != h]
            if changed:
                for job in changed:
                    log.warning("file changed while being read; waiting for it", path=job.path)
                self.store.release([j.id for j in changed], delay=self.settle_seconds)
                self.store.release([j.id for j in jobs if j not in changed])
                return
            try:
                answer = self.client.submit(body)
            except ApiError as exc:
                self._refused(jobs, exc)
                return
        self.gate.reached()
        uploads = [
            Upload(job.id, name, checked.sha256, checked.size, checked.mtime_ns)
            for (job, checked), name in zip(ready, names, strict=True)
        ]
        request_id = answer.request_id or f"sync-{uuid.uuid4()}"
        response_uri = None if isinstance(answer, Completed) else answer.response_uri
        estimate = len(uploads) * catalog.credits_per_image(
            options.backends, options.features, options.prompt
        )
        self.store.mark_submitted(
            request_id, response_uri, options, uploads,
            first_poll_in=self.api.poll_interval, credits_estimated=estimate,
        )  # fmt: skip
        log.info("uploaded", request_id=request_id, files=[u.upload_name for u in uploads])
        if isinstance(answer, Completed):
            record_completion(self.store, request_id, answer)
            self.on_results()

    def _refused(self, jobs: list[ClaimedJob], exc: ApiError) -> None:
        ids = [job.id for job in jobs]
        if isinstance(exc, AccessDenied):
            self.store.release(ids, error=f"waiting: API key rejected ({exc.message})")
            self.gate.close_for_auth(exc.message)
        elif isinstance(exc, OutOfCredits):
            self.store.release(ids, error=f"waiting: {exc.message}")
            self.gate.close_for_credits(exc.message)
        elif isinstance(exc, TransientError) and exc.unreachable:
            self.store.release(ids)
            self.gate.close_for_network(exc.message)
        elif isinstance(exc, TransientError) and exc.http_status == 429:
            delay = exc.retry_after if exc.retry_after is not None else self.backoff.delay(1)
            self.store.release(ids, delay=delay)
            self.gate.close("rate", "rate limited by the API", delay)
        elif isinstance(exc, FileTooLarge) and len(jobs) == 1:
            self.store.finish_unsent(ids[0], SKIPPED, exc.message)
        else:
            for job in jobs:
                with bound_contextvars(job_id=job.id, path=job.path):
                    again = self.store.retry_later(
                        job.id,
                        exc.message,
                        self.backoff.delay(job.attempts + 1),
                        self.api.max_attempts,
                    )
                    (log.warning if again else log.error)(
                        "upload failed" + ("; will retry" if again else "; giving up"),
                        error=exc.message,
                    )
