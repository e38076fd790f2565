"""Following every outstanding request until it completes or fails, all in one loop: each
request has its own next-poll time, so a slow request never holds back the others. What a
failed poll means is decided in ``policy``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from ..api import catalog
from ..api.client import Accepted, ApiClient, ApiError, Completed
from ..api.pacing import PollPacer
from ..config import ApiSettings
from ..jobtable import Polls
from ..log import bound_contextvars, get_logger
from ..records import Clock, OutstandingRequest, utcnow
from ..rules import policy
from ..rules.retry import Backoff
from . import counters
from .payload import fold

log = get_logger("poller")
LOOK_AGAIN = 1.0  # seconds: the longest the poller rests while requests may come due
LOOK_SOONEST = 0.05  # and the shortest: a poll is at most this late


def match_assets(
    assets: list[dict[str, Any]], uploads: dict[str, int]
) -> tuple[dict[int, dict[str, Any]], list[str]]:
    """Given a result's assets and the request's upload names → job ids (in the order
    sent), pair them: by name (the order of assets is not promised); a name the API
    rewrote, by what is left of both once rewritten (``payload.fold``), where that is one
    name on each side; the rest by place, where the answer has an asset for each name and
    every one paired so far stands where its name was sent. Never a guess: what is left
    unpaired is a file nothing came back for. A video sent as frames has an asset per
    frame, combined into one. Returns (assets by job id, names nothing came back for)."""
    sent = list(uploads)
    placed: dict[str, dict[str, Any]] = {}
    rest: list[tuple[int, dict[str, Any]]] = []
    for index, asset in enumerate(assets):
        name = str(asset.get("name"))
        if name in uploads and name not in placed:
            placed[name] = asset
        else:
            rest.append((index, asset))
    if rest:
        rest = _by_folded_name(rest, sent, placed)
    if rest and len(assets) == len(sent):
        rest = _by_place(assets, rest, sent, placed)
    found: dict[int, list[dict[str, Any]]] = {}
    for name in sent:
        if name in placed:
            found.setdefault(uploads[name], []).append(placed[name])
    by_job = {job_id: combine_assets(frames) for job_id, frames in found.items()}
    missing = [name for name, job_id in uploads.items() if job_id not in by_job]
    return by_job, missing


def _by_folded_name(
    rest: list[tuple[int, dict[str, Any]]], sent: list[str], placed: dict[str, dict[str, Any]]
) -> list[tuple[int, dict[str, Any]]]:
    """Pair assets whose rewritten name folds to one name sent, and to no other asset's."""
    open_names = [name for name in sent if name not in placed]
    names_by_key = Counter(fold(name) for name in open_names)
    assets_by_key = Counter(fold(str(asset.get("name"))) for _, asset in rest)
    left = []
    for index, asset in rest:
        key = fold(str(asset.get("name")))
        if names_by_key[key] == 1 and assets_by_key[key] == 1:
            placed[next(name for name in open_names if fold(name) == key)] = asset
        else:
            left.append((index, asset))
    return left


def _by_place(
    assets: list[dict[str, Any]], rest: list[tuple[int, dict[str, Any]]], sent: list[str],
    placed: dict[str, dict[str, Any]],
) -> list[tuple[int, dict[str, Any]]]:  # fmt: skip
    """Pair the rest by place, if the answer kept the order it was sent in: something was
    paired by name, and each such asset stands at its name's place."""
    where = {id(asset): index for index, asset in enumerate(assets)}
    kept = bool(placed) and all(where[id(a)] == sent.index(name) for name, a in placed.items())
    if not kept:
        return rest
    for index, asset in rest:
        if sent[index] not in placed:
            placed[sent[index]] = asset
    return [(index, asset) for index, asset in rest if placed.get(sent[index]) is not asset]


def combine_assets(assets: list[dict[str, Any]]) -> dict[str, Any]:
    """Given the assets of one video's frames (in order), one asset for the video: every
    frame's tags, descriptions and detections, each frame's first."""
    if len(assets) == 1:
        return assets[0]
    combined: dict[str, Any] = {"name": assets[0].get("name"), "frames": len(assets)}
    for asset in assets:
        for key, value in asset.items():
            if key == "name":
                continue
            if isinstance(value, dict):
                target = combined.setdefault(key, {})
                for item, found in value.items():
                    target.setdefault(item, []).extend(
                        found if isinstance(found, list) else [found]
                    )
            elif isinstance(value, list):
                combined.setdefault(key, []).extend(value)
    return combined


def record_completion(
    polls: Polls, request_id: str, answer: Completed, *, retry_delay: float,
    max_attempts: int,
) -> None:  # fmt: skip
    """Given a completed answer, store every file's result (one transaction). A file it
    holds no result for is sent again (an attempt), with what the API said of it."""
    uploads = polls.uploads(request_id)
    by_job, missing = match_assets(answer.assets, uploads)
    came_back = [str(asset.get("name")) for asset in answer.assets]
    if set(came_back) - set(uploads):
        log.warning(
            "the API's answer names files other than as sent; paired by what is left of the "
            "names once rewritten, or by place, never by guess",
            request_id=request_id, sent=list(uploads), came_back=came_back,
            unpaired=len(missing),
        )  # fmt: skip
    errors_by_name = {
        str(e.get("name")): str(e.get("error")) for e in answer.errors if isinstance(e, dict)
    }
    unanswered = {
        uploads[name]: f"API: {errors_by_name[name]}" for name in missing if name in errors_by_name
    }
    if not polls.complete(
        request_id, answer.credits_paid, answer.credits, by_job, answer.errors, unanswered,
        retry_delay=retry_delay, max_attempts=max_attempts,
    ):  # fmt: skip
        log.info("request completed by another daemon already; nothing to do")
        return
    log.debug(
        "request completed",
        request_id=request_id,
        files=len(by_job),
        credits_paid=answer.credits_paid,
        balance=answer.credits,
    )
    for name in missing:
        log.warning(
            "no result for file; it is sent again",
            job_id=uploads[name],
            request_id=request_id,
            upload_name=name,
            api_error=errors_by_name.get(name),
        )


class Poller:
    def __init__(
        self,
        polls: Polls,
        client_factory: Callable[[], ApiClient],
        api: ApiSettings,
        backoff: Backoff | None = None,
        on_results: Callable[[], None] = lambda: None,
        clock: Clock = utcnow,
        pacer: PollPacer | None = None,
    ) -> None:
        self.polls = polls
        self.clock = clock
        self.pacer = pacer or PollPacer(api.poll_interval)
        self.client = client_factory()
        self.api = api
        self.backoff = backoff or Backoff()
        self.on_results = on_results
        self._drift_told: set[str] = set()  # option sets whose price drift was logged

    def step(self) -> bool | float:
        """Poll every request that is due once; return True if any was, else the seconds
        until the next is due (at most ``LOOK_AGAIN``: another daemon's may come due; the
        submitter wakes the poller when it sends one). Looking is a read; taking requests
        (a write) happens only when one is due."""
        next_due = self.polls.next_due(others_late_by=self.api.poll_interval)
        if next_due is None:
            return LOOK_AGAIN
        wait = (next_due - self.polls.clock()).total_seconds()  # the table's clock
        if wait > 0:
            return min(LOOK_AGAIN, max(LOOK_SOONEST, wait))
        with self.polls.holding() as holding:  # a step that fails gives back what is left
            due = self.polls.due(others_late_by=self.api.poll_interval)
            holding.take(requests=[request.id for request in due])
            for request in due:
                with bound_contextvars(request_id=request.id):
                    self._poll_one(request)
        return bool(due)

    def _poll_one(self, request: OutstandingRequest) -> None:
        counters.POLLS.inc()
        try:
            answer = self.client.poll(request.id, request.response_uri)
        except ApiError as exc:
            counters.API_ERRORS.labels(type(exc).__name__).inc()
            self._failed(request, exc)
            return
        elapsed = (self.clock() - request.submitted_at).total_seconds()
        if isinstance(answer, Accepted):
            delay = self.pacer.not_done(request.id, request.options_fp, elapsed)
            self.polls.defer_poll(request.id, answer.status, delay)
        else:
            counters.REQUEST_SECONDS.observe(elapsed)
            self.pacer.completed(request.id, request.options_fp, elapsed)
            record_completion(
                self.polls, request.id, answer,
                retry_delay=self.backoff.delay(1), max_attempts=self.api.max_attempts,
            )  # fmt: skip
            if request.options_fp not in self._drift_told:
                self._check_price(request, answer.credits_paid)
            self.on_results()

    def _check_price(self, request: OutstandingRequest, charged: int | None) -> None:
        """Say once per option set when the API charged other than the price table says:
        estimates and budgets rest on the table (`status` shows it too). The options are
        read only then."""
        estimated = request.credits_estimated
        if charged is None or estimated is None or charged == estimated:
            return
        said = catalog.drift(self.polls.options_of(request.id), charged, estimated)
        if said is not None:
            self._drift_told.add(request.options_fp)
            log.warning(said, request_id=request.id)

    def _failed(self, request: OutstandingRequest, exc: ApiError) -> None:
        self.pacer.forget(request.id)
        verdict = policy.after_poll_error(
            exc,
            request.poll_failures,
            poll_interval=self.api.poll_interval,
            auth_retry_interval=self.api.auth_retry_interval,
            age=self.clock() - request.submitted_at,
        )
        match verdict:
            case policy.Requeue(error, gave_up):
                why = "giving up on request" if gave_up else "request unknown to the API"
                log.warning(f"{why}; its files are queued again", error=error)
                self.polls.lost(request.id, error, self.api.max_attempts)
            case policy.FailRequest(error):
                log.error("request failed", error=error)
                self.polls.fail(
                    request.id, error,
                    retry_delay=self.backoff.delay(1), max_attempts=self.api.max_attempts,
                )  # fmt: skip
            case policy.PollLater(delay, failure):
                log.warning("poll failed; will retry", error=exc.message, retry_in=round(delay, 1))
                self.polls.defer_poll(request.id, None, delay, failure=failure)
