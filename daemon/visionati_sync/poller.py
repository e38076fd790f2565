"""Following every outstanding request until it completes or fails, all in one loop: each
request has its own next-poll time, so a slow request never holds back the others."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from structlog.contextvars import bound_contextvars

from .client import (
    Accepted,
    AccessDenied,
    ApiClient,
    ApiError,
    Completed,
    RequestFailed,
    RequestNotFound,
    TransientError,
)
from .config import ApiSettings
from .jobs import JobStore
from .log import get_logger
from .retry import Backoff

log = get_logger("poller")

MAX_POLL_FAILURES = 40  # with backoff capped at 10 minutes, several hours of trying


def match_assets(
    assets: list[dict[str, Any]], uploads: dict[str, int]
) -> tuple[dict[int, dict[str, Any]], list[str]]:
    """Given a result's assets and the request's upload names → job ids, pair them by name
    (the order of assets is not promised). Returns (assets by job id, unmatched names)."""
    by_job: dict[int, dict[str, Any]] = {}
    for asset in assets:
        job_id = uploads.get(str(asset.get("name")))
        if job_id is not None and job_id not in by_job:
            by_job[job_id] = asset
    missing = [name for name, job_id in uploads.items() if job_id not in by_job]
    return by_job, missing


def record_completion(store: JobStore, request_id: str, answer: Completed) -> None:
    """Given a completed answer, store every file's result (one transaction)."""
    uploads = store.request_uploads(request_id)
    by_job, missing = match_assets(answer.assets, uploads)
    errors_by_name = {
        str(e.get("name")): str(e.get("error")) for e in answer.errors if isinstance(e, dict)
    }
    store.complete_request(
        request_id,
        answer.credits_paid,
        answer.credits,
        by_job,
        answer.errors,
        missing_error="the API returned no result for this file",
    )
    log.info(
        "request completed",
        request_id=request_id,
        files=len(by_job),
        credits_paid=answer.credits_paid,
        balance=answer.credits,
    )
    for name in missing:
        log.error(
            "no result for file",
            job_id=uploads[name],
            request_id=request_id,
            upload_name=name,
            api_error=errors_by_name.get(name),
        )


class Poller:
    def __init__(
        self,
        store: JobStore,
        client_factory: Callable[[], ApiClient],
        api: ApiSettings,
        backoff: Backoff | None = None,
        on_results: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.client = client_factory()
        self.api = api
        self.backoff = backoff or Backoff()
        self.on_results = on_results

    def step(self) -> bool:
        """Poll every request that is due once; return whether any was."""
        due = self.store.due_requests()
        for request in due:
            with bound_contextvars(request_id=request.id):
                self._poll_one(request.id, request.response_uri, request.poll_failures)
        return bool(due)

    def _poll_one(self, request_id: str, response_uri: str | None, failures: int) -> None:
        try:
            answer = self.client.poll(request_id, response_uri)
        except RequestNotFound as exc:
            log.warning("request unknown to the API; its files are queued again", error=exc.message)
            self.store.request_lost(request_id, exc.message, self.api.max_attempts)
        except RequestFailed as exc:
            log.error("request failed", error=exc.message)
            self.store.fail_request(
                request_id,
                exc.message,
                retry_delay=self.backoff.delay(1),
                max_attempts=self.api.max_attempts,
            )
        except AccessDenied as exc:
            log.error("poll refused: API key rejected", error=exc.message)
            self.store.defer_poll(request_id, "queued", self.api.auth_retry_interval, failure=True)
        except ApiError as exc:
            if failures + 1 >= MAX_POLL_FAILURES:
                log.error("giving up on request; its files are queued again", error=exc.message)
                self.store.request_lost(
                    request_id, f"polling kept failing: {exc.message}", self.api.max_attempts
                )
                return
            retry_after = exc.retry_after if isinstance(exc, TransientError) else None
            delay = self.backoff.delay(
                failures + 1, at_least=max(self.api.poll_interval, retry_after or 0)
            )
            log.warning("poll failed; will retry", error=exc.message, retry_in=round(delay, 1))
            self.store.defer_poll(request_id, "queued", delay, failure=True)
        else:
            if isinstance(answer, Accepted):
                self.store.defer_poll(request_id, answer.status, self.api.poll_interval)
            else:
                record_completion(self.store, request_id, answer)
                self.on_results()
