"""The routes: the review page (``/``), the dashboard (``/dashboard``), a thumbnail by job id
(``/thumb/{id}``), and the JSON the pages' script uses (``/api/…``). Every route passes the
guard first; a change (``POST``) also proves its Origin and CSRF token. Files are reached by
job id only, and only a job of this config's folders: never by a path from the request.
Handlers that touch the job table or the disk run in Starlette's thread pool."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from ..actions.review import write_approved
from ..config import Config, exclusions
from ..jobtable import JobTable
from ..log import get_logger
from ..renditions import FileProblem
from ..rules.keywording import proposals
from . import views
from .guard import COOKIE, Guard, Refusal, Visitor
from .thumbnails import Thumbnails

log = get_logger("web")

Handler = Callable[[Request, Visitor], Awaitable[Response]]
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass
class Site:
    table: JobTable
    config: Config
    guard: Guard
    thumbnails: Thumbnails


def build(site: Site) -> Starlette:
    """Given the parts, the web application."""
    pages = Environment(
        loader=PackageLoader("visionati_sync.web", "templates"),
        autoescape=select_autoescape(default=True),
    )

    def guarded(handler: Handler, *, change: bool = False) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            headers = {k.lower(): v for k, v in request.headers.items()}
            admitted = site.guard.admit(
                request.method, headers, request.cookies.get(COOKIE),
                request.query_params.get("token"), change,
            )  # fmt: skip
            if isinstance(admitted, Refusal):
                return _secured(PlainTextResponse(admitted.message + "\n", admitted.status,
                                                  admitted.headers))  # fmt: skip
            if admitted.new and request.query_params.get("token"):  # the token, once: a cookie
                rest = {k: v for k, v in request.query_params.items() if k != "token"}
                target = request.url.path + ("?" + urlencode(rest) if rest else "")
                response: Response = RedirectResponse(target, 303)
            else:
                response = await handler(request, admitted)
            if admitted.new:
                response.set_cookie(COOKIE, admitted.session, httponly=True, samesite="strict")
            return _secured(response)

        return endpoint

    def render(name: str, visitor: Visitor, **context: Any) -> HTMLResponse:
        page = pages.get_template(name).render(csrf=visitor.csrf, **context)
        return HTMLResponse(page)

    async def review(request: Request, visitor: Visitor) -> Response:
        query = request.query_params
        chosen = views.filters(query.get("folder"), query.get("since"), query.get("word"))
        try:
            page = max(1, int(query.get("page", "1")))
        except ValueError:
            page = 1

        def read() -> tuple[list[views.Card], int, list[Any]]:
            scopes = views.scopes(site.config)
            tasks, total = site.table.reviews.page(
                scopes, chosen, (page - 1) * views.PAGE, views.PAGE
            )
            return views.cards(tasks, site.config), total, site.table.reviews.acceptance()

        cards, total, acceptance = await run_in_threadpool(read)
        return render(
            "review.html", visitor, cards=cards, numbers=views.page_numbers(total, page),
            query={k: query.get(k, "") for k in ("folder", "since", "word")},
            folders=[str(f.path) for f in site.config.settings.folders],
            acceptance=acceptance[:40], can_exclude=_exclude_file(site) is not None,
            cards_json=json.dumps([asdict(c) for c in cards]),
        )  # fmt: skip

    async def dashboard(request: Request, visitor: Visitor) -> Response:
        data = await run_in_threadpool(views.dashboard, site.table, site.config)
        return render("dashboard.html", visitor, data=data, data_json=json.dumps(data))

    async def status(request: Request, visitor: Visitor) -> Response:
        data = await run_in_threadpool(views.dashboard, site.table, site.config)
        return JSONResponse(data)

    async def thumb(request: Request, visitor: Visitor) -> Response:
        job_id = int(request.path_params["job_id"])

        def read() -> bytes | None:
            found = site.table.reviews.located(job_id, views.scopes(site.config))
            if found is None:
                return None
            return site.thumbnails.get(*found)

        try:
            data = await run_in_threadpool(read)
        except FileProblem as exc:
            return PlainTextResponse(f"no picture: {exc.reason}\n", 422)
        if data is None:
            return PlainTextResponse("no such photo here\n", 404)
        return Response(data, media_type="image/jpeg")

    async def decide(request: Request, visitor: Visitor) -> Response:
        body = await _json(request)
        decisions = body.get("decisions") if isinstance(body, dict) else None
        if not isinstance(decisions, list):
            return JSONResponse({"error": "expected {decisions: [...]}"}, 400)
        outcome = await run_in_threadpool(_decide, site, decisions, visitor.who)
        return JSONResponse(outcome)

    async def never(request: Request, visitor: Visitor) -> Response:
        body = await _json(request)
        word = body.get("word") if isinstance(body, dict) else None
        path = _exclude_file(site)
        if path is None:
            return JSONResponse({"error": "set keywords.exclude_file in the config first"}, 409)
        if not isinstance(word, str):
            return JSONResponse({"error": "expected {word: ...}"}, 400)
        try:
            added = await run_in_threadpool(exclusions.add_exclusion, path, word)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        log.info("keyword excluded from now on", word=word, by=visitor.who, file=str(path))
        return JSONResponse({"word": word, "added": added})

    async def retry(request: Request, visitor: Visitor) -> Response:
        job_id = int(request.path_params["job_id"])

        def again() -> int:
            if site.table.reviews.located(job_id, views.scopes(site.config)) is None:
                return -1
            return site.table.queue.retry([job_id])

        count = await run_in_threadpool(again)
        if count < 0:
            return JSONResponse({"error": "no such file here"}, 404)
        return JSONResponse({"queued": count})

    async def asset(request: Request, visitor: Visitor) -> Response:
        name = request.path_params["name"]
        kinds = {"app.js": "text/javascript", "app.css": "text/css"}
        if name not in kinds:
            return PlainTextResponse("not found\n", 404)
        data = (resources.files("visionati_sync.web") / "static" / name).read_bytes()
        return Response(data, media_type=kinds[name])

    return Starlette(
        routes=[
            Route("/", guarded(review)),
            Route("/dashboard", guarded(dashboard)),
            Route("/api/status", guarded(status)),
            Route("/thumb/{job_id:int}", guarded(thumb)),
            Route("/static/{name}", guarded(asset)),
            Route("/api/review", guarded(decide, change=True), methods=["POST"]),
            Route("/api/never", guarded(never, change=True), methods=["POST"]),
            Route("/api/retry/{job_id:int}", guarded(retry, change=True), methods=["POST"]),
        ]
    )


def _decide(site: Site, decisions: list[Any], who: str) -> dict[str, Any]:
    """Record each decision and write what was accepted, through `apply`'s own code."""
    scopes = views.scopes(site.config)
    accepted: list[int] = []
    results: dict[str, str] = {}
    for decision in decisions:
        if not isinstance(decision, dict) or not isinstance(decision.get("job_id"), int):
            continue
        job_id = decision["job_id"]
        task = site.table.reviews.task(job_id, scopes)
        if task is None:
            results[str(job_id)] = "gone"  # decided already, or not a photo of this page
            continue
        proposed = [p.key for p in proposals(task.asset, site.config.keyword_rules(task.folder))]
        if decision.get("decision") == "reject":
            done = site.table.reviews.reject(job_id, proposed, who)
            results[str(job_id)] = "rejected" if done else "gone"
            continue
        wanted = decision.get("kept")
        kept = [key for key in proposed if not isinstance(wanted, list) or key in wanted]
        description = decision.get("description")
        description = (description.strip() or None) if isinstance(description, str) else None
        if site.table.reviews.accept(job_id, proposed, kept, description, who):
            accepted.append(job_id)
        else:
            results[str(job_id)] = "gone"
    if accepted:
        applied = write_approved(site.table, site.config, accepted)
        states = site.table.reports.states(accepted)
        for job_id in accepted:
            results[str(job_id)] = "written" if states.get(job_id) == "done" else "not written"
        log.info("review applied", files=len(applied.done), not_done=len(applied.not_done))
    return {"results": results}


def _exclude_file(site: Site) -> Path | None:
    return site.config.keywords_section(None).exclude_file


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


def _secured(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
