"""A local stand-in for the Visionati API that speaks the documented HTTP contract.

It is how the test suite exercises the daemon over real HTTP, and how a new user tries the
daemon without an account. Results are synthetic, derived deterministically from each file's
bytes, and say so. A control API under ``/_emulator/`` (no key needed; it answers only
clients on the same machine) lets tests inject faults, change timings and read the log of
what was sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import ipaddress
import json
import math
import random
import re
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..api import catalog
from ..renditions import formats, tools

SYNTHETIC_NOTE = "synthetic result from the visionati-sync emulator, not a real analysis"

_WORDS = (
    "landscape",
    "mountain",
    "sky",
    "cloud",
    "tree",
    "forest",
    "river",
    "lake",
    "beach",
    "sea",
    "city",
    "street",
    "building",
    "bridge",
    "car",
    "bicycle",
    "person",
    "portrait",
    "child",
    "dog",
    "cat",
    "bird",
    "horse",
    "flower",
    "garden",
    "food",
    "table",
    "window",
    "door",
    "night",
    "sunset",
    "snow",
    "rain",
    "light",
    "shadow",
    "texture",
    "pattern",
    "architecture",
    "vintage",
    "colorful",
    "monochrome",
    "outdoors",
    "indoors",
    "nature",
    "travel",
    "art",
)


@dataclass
class EmulatorSettings:
    """What the emulator does; every field can be changed at run time via the control API."""

    keys: list[str] = field(default_factory=lambda: ["emulator-key"])
    credits: int = 100_000
    queued_polls: int = 1  # polls answered "queued" before "processing"
    processing_polls: int = 1  # polls answered "processing" before the result
    delay: float = 0.0  # and no result before this many seconds after the upload
    # seconds an upload's answer takes to come back once the API has taken it (and its
    # credits): a slow link, and the moment a client may lose its answer
    answer_after: float = 0.0
    expire_seconds: float = 86_400.0  # results are kept this long after completion
    response_origin: str | None = None  # answer response_uri on this origin instead of ours
    backend_errors: list[dict[str, str]] = field(default_factory=list)  # added to all.errors
    seed: int = 0  # of the faults that strike at a rate: the same seed, the same faults
    price_drift: int = 0  # credits per image charged over (or under) the price table
    # the live API rewrites file names in ways its documentation does not say: one such
    # way (every character but A-Z a-z 0-9 . _ - becomes _), and assets in any order
    rewrite_names: bool = False
    shuffle_assets: bool = False


@dataclass
class _Fault:
    method: str = "*"
    path: str = "*"  # a path prefix, e.g. /api/fetch or /api/response/
    times: int = 1
    status: int = 500
    body: Any = None  # JSON-able; a str is sent as text
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering
    delay: float = 0.0  # wait before answering (to provoke read timeouts)
    fail_request: str | None = None  # instead: the next upload ends "failed" with this error
    rate: float | None = None  # instead of `times`: each matching call, with this probability
    for_seconds: float | None = None  # the fault lasts this long after it is set: an outage
    poison: str | None = None  # with fail_request: every upload holding this file (its sha256
    # or name) ends failed, as an API that cannot process one photo fails its whole batch
    set_at: float = field(default_factory=time.monotonic)

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and (self.path == "*" or path.startswith(self.path))

    def over(self, now: float) -> bool:
        return self.for_seconds is not None and now - self.set_at >= self.for_seconds


@dataclass
class _Request:
    id: str
    created: float
    names: list[str]
    hashes: list[str]
    assets: list[dict[str, Any]]
    fields: dict[str, Any]
    credits_paid: int
    errors: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None
    polls: int = 0
    completed: float | None = None


class EmulatorState:
    """Everything the emulator remembers; guarded by one lock."""

    def __init__(self, settings: EmulatorSettings) -> None:
        self.settings = settings
        self.lock = threading.Lock()
        self.requests: dict[str, _Request] = {}
        self.faults: list[_Fault] = []
        self.log: list[dict[str, Any]] = []
        self.rng = random.Random(settings.seed)

    def take_fault(self, method: str, path: str, *, upload: bool = False) -> _Fault | None:
        """The fault this call meets, if any: a counted one is used up, one with a rate
        strikes at that rate while it lasts."""
        now = time.monotonic()
        with self.lock:
            self.faults = [fault for fault in self.faults if not fault.over(now)]
            for fault in self.faults:
                if (fault.fail_request is not None) != upload or fault.poison is not None:
                    continue
                if not fault.matches(method, path):
                    continue
                if fault.rate is not None:
                    if self.rng.random() < fault.rate:
                        return fault
                    continue
                if fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def poisoned(self, hashes: list[str], names: list[str]) -> _Fault | None:
        """The poison fault an upload of these files meets, if one of them is the poison."""
        with self.lock:
            for fault in self.faults:
                if fault.poison is not None and (fault.poison in hashes or fault.poison in names):
                    return fault
        return None


def synthesize_asset(name: str, data: bytes, fields: dict[str, Any]) -> dict[str, Any]:
    """Given a file's bytes and the request's options, return a deterministic asset."""
    seed = hashlib.sha256(data).digest()
    rng = random.Random(seed)
    features = set(_as_list(fields.get("feature")) or catalog.FEATURES)
    backends = _as_list(fields.get("backend")) or list(catalog.DEFAULT_BACKENDS)
    tag_score = float(fields.get("tag_score", 0.9))
    words = rng.sample(_WORDS, 6)
    asset: dict[str, Any] = {"name": name}
    if "tags" in features:
        tags: dict[str, list[dict[str, Any]]] = {}
        for backend in backends:
            if "tags" not in catalog.backend_features(backend):
                continue
            for word in words:
                score = round(0.82 + 0.17 * rng.random(), 4)
                if score >= tag_score:
                    tags.setdefault(word, []).append(
                        {"name": word, "score": score, "source": backend}
                    )
        asset["tags"] = tags
    if "descriptions" in features:
        role = fields.get("role", "general")
        language = fields.get("language", "English")
        subject = ", ".join(words[:3])
        asset["descriptions"] = [
            {
                "description": f"An image of {subject} ({role}, {language}; {SYNTHETIC_NOTE}).",
                "source": backend,
            }
            for backend in backends
            if "descriptions" in catalog.backend_features(backend)
        ]
    if "nsfw" in features:
        asset["nsfw"] = [
            {"label": "sfw", "score": 0.99, "source": b}
            for b in backends
            if "nsfw" in catalog.backend_features(b)
        ]
    if "colors" in features:
        color = "#" + seed[:3].hex()
        asset["colors"] = {
            color: [
                {
                    "hex": color,
                    "score": 0.5,
                    "pixel_fraction": 0.1,
                    "red": seed[0],
                    "green": seed[1],
                    "blue": seed[2],
                    "source": b,
                }
                for b in backends
                if "colors" in catalog.backend_features(b)
            ]
        }
    for feature in ("faces", "texts", "brands"):
        if feature in features:
            asset[feature] = []
    return asset


def describe_upload(blob: bytes, fields: dict[str, Any]) -> dict[str, Any]:
    """Given one uploaded file, what the emulator makes of it, as its log shows: the format
    (None for one the API's own clients never send: HEIC, TIFF, RAW, JPEG XL…), its size,
    and the images charged (a video's frames, as ``capture_interval`` and ``max_frames`` and
    its length decide)."""
    found = formats.sniff(blob[: formats.HEAD_BYTES])
    item: dict[str, Any] = {"format": None, "bytes": len(blob), "charged": 1}
    if found is None or not found.sendable:
        item["format_found"] = found.name if found else None
        return item
    item["format"] = found.name
    if found.kind is formats.Kind.VIDEO:
        interval = max(1, int(fields.get("capture_interval", 1)))
        limit = int(fields.get("max_frames", 3))
        frames = max(1, math.ceil(_video_seconds(blob) / interval))
        item["charged"] = min(frames, limit) if limit > 0 else frames
        return item
    try:
        from PIL import Image

        with Image.open(io.BytesIO(blob)) as image:
            item["width"], item["height"] = image.size
    except (OSError, ValueError, SyntaxError):
        pass
    return item


def _video_seconds(blob: bytes) -> float:
    """A video's length as its container says (ffprobe), or 1 s if that cannot be told."""
    with tempfile.NamedTemporaryFile(prefix="emulator-video-") as handle:
        handle.write(blob)
        handle.flush()
        try:
            return tools.video_duration(handle.name)
        except tools.ToolError:
            return 1.0


_REWRITTEN = re.compile(r"[^A-Za-z0-9._-]")  # what ``rewrite_names`` replaces


def _reordered(assets: list[dict[str, Any]], state: Any) -> list[dict[str, Any]]:
    """The assets in the order the answer gives them: reversed (the order is not
    promised), or shuffled (``shuffle_assets``)."""
    if state.settings.shuffle_assets:
        with state.lock:
            shuffled: list[dict[str, Any]] = state.rng.sample(assets, len(assets))
        return shuffled
    return list(reversed(assets))


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet by default
        if self.server.verbose:
            super().log_message(format, *args)

    # -- plumbing ------------------------------------------------------------------------

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header(
            "Content-Type", "text/plain" if isinstance(body, str) else "application/json"
        )
        self.send_header("Content-Length", str(len(raw)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(raw)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authorized(self) -> bool:
        header = self.headers.get("X-API-Key") or self.headers.get("Authorization") or ""
        key = header.removeprefix("Token ").strip()
        return key in self.server.state.settings.keys

    def _record(self, entry: dict[str, Any]) -> None:
        entry.setdefault("time", time.time())
        with self.server.state.lock:
            self.server.state.log.append(entry)

    def _fault(self, method: str, path: str) -> bool:
        fault = self.server.state.take_fault(method, path)
        if fault is None:
            return False
        self._record({"method": method, "path": path, "fault": True, "status": fault.status})
        if fault.delay:
            time.sleep(fault.delay)
        if fault.drop:
            self.close_connection = True
            self.connection.close()
            return True
        self._send(fault.status, fault.body if fault.body is not None else "", fault.headers)
        return True

    # -- routes --------------------------------------------------------------------------

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path.startswith("/_emulator/"):
            return self._control("GET", parts.path, b"")
        if self._fault("GET", parts.path):
            return None
        if not self._authorized():
            self._record({"method": "GET", "path": parts.path, "status": 401, "auth": False})
            return self._send(401, {"error": "Access denied."})
        if parts.path == "/api/credits":
            self._record({"method": "GET", "path": parts.path, "status": 200})
            return self._send(200, {"credits": self.server.state.settings.credits})
        if parts.path.startswith("/api/response/"):
            return self._poll(parts.path.removeprefix("/api/response/"))
        if parts.path == "/api/fetch":
            query = {k: v if len(v) > 1 else v[0] for k, v in parse_qs(parts.query).items()}
            return self._fetch(query, parts.path)
        return self._send(404, {"error": "Not found."})

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        raw = self._body()
        if parts.path.startswith("/_emulator/"):
            return self._control("POST", parts.path, raw)
        if self._fault("POST", parts.path):
            return None
        if parts.path != "/api/fetch":
            return self._send(404, {"error": "Not found."})
        if not self._authorized():
            self._record({"method": "POST", "path": parts.path, "status": 401, "auth": False})
            return self._send(401, {"error": "Access denied."})
        try:
            fields = json.loads(raw) if raw else {}
        except ValueError:
            fields = None
        if not isinstance(fields, dict):
            self._record({"method": "POST", "path": parts.path, "status": 400})
            return self._send(400, {"error": "Invalid request format."})
        return self._fetch(fields, parts.path)

    def _fetch(self, fields: dict[str, Any], path: str) -> None:
        state = self.server.state
        files = _as_list(fields.get("file"))
        urls = _as_list(fields.get("url"))
        names = _as_list(fields.get("file_name"))

        def reject(status: int, message: str) -> None:
            self._record({"method": "POST", "path": path, "status": status, "error": message})
            self._send(status, {"error": message})

        if not files and not urls:
            return reject(400, "File/URL params are required.")
        for option, known in (("backend", catalog.BACKENDS), ("feature", catalog.FEATURES)):
            unknown = [v for v in _as_list(fields.get(option)) if v not in known]
            if unknown:
                return reject(400, f"Invalid {option}: {', '.join(unknown)}")
        blobs: list[bytes] = []
        for index, item in enumerate(files):
            text = item.split(",", 1)[1] if item.startswith("data:") else item
            try:
                blob = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                return reject(400, "Invalid request format.")
            if len(blob) > catalog.MAX_FILE_BYTES:
                return reject(400, "File too large. Max 20MB.")
            blobs.append(blob)
            if index >= len(names):
                names.append(f"file{index + 1}")
        for url in urls:
            if not url.startswith(("http://", "https://")):
                return reject(400, "Invalid URLs detected.")
        per_image = catalog.credits_per_image(
            _as_list(fields.get("backend")), _as_list(fields.get("feature")), fields.get("prompt")
        )
        seen = [describe_upload(blob, fields) for blob in blobs]
        per_image = max(0, per_image + state.settings.price_drift)  # the API's prices move
        cost = per_image * (sum(item["charged"] for item in seen) + len(urls))
        with state.lock:
            if state.settings.credits <= 0:
                cost = -1
            elif state.settings.credits < cost:
                cost = -2
            else:
                state.settings.credits -= cost
        if cost == -1:
            return reject(402, "No credits.")
        if cost == -2:
            return reject(402, "Insufficient credits.")
        assets: list[dict[str, Any]] = []
        errors: list[dict[str, str]] = []
        rewrite = state.settings.rewrite_names
        for name, blob, info in zip(names, blobs, seen, strict=False):
            answered = _REWRITTEN.sub("_", name) if rewrite else name
            if info["format"] is None:
                errors.append({"name": answered, "error": "Unsupported file format."})
            else:
                assets.append(synthesize_asset(answered, blob, fields))
        assets += [synthesize_asset(u, u.encode(), fields) for u in urls]
        request = _Request(
            id=str(uuid.uuid4()),
            created=time.monotonic(),
            names=names[: len(blobs)] + urls,
            hashes=[hashlib.sha256(b).hexdigest() for b in blobs],
            assets=_reordered(assets, state),  # the order of assets is not promised
            errors=errors,
            fields={k: v for k, v in fields.items() if k not in ("file", "url")},
            credits_paid=cost,
        )
        fault = state.poisoned(request.hashes, request.names) or state.take_fault(
            "POST", path, upload=True
        )
        if fault is not None:
            request.error = fault.fail_request or "Request failed."
        with state.lock:
            state.requests[request.id] = request
        self._record(
            {
                "method": "POST",
                "path": path,
                "status": 200,
                "request_id": request.id,
                "file_names": request.names,
                "sha256": request.hashes,
                "credits": cost,
                "files": seen,
                "fields": request.fields,
            }
        )
        if state.settings.answer_after:
            time.sleep(state.settings.answer_after)
        if len(urls) == 1 and not blobs:  # one image URL: answered at once
            request.completed = time.monotonic()
            return self._send(200, self._completed(request))
        return self._send(
            200,
            {
                "request_id": request.id,
                "status": "queued",
                "success": True,
                "response_uri": f"{self._origin()}/api/response/{request.id}",
                "files": len(blobs),
                "file_names": request.names,
                **request.fields,
            },
        )

    def _origin(self) -> str:
        settings = self.server.state.settings
        if settings.response_origin:
            return settings.response_origin.rstrip("/")
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _poll(self, request_id: str) -> None:
        state = self.server.state
        now = time.monotonic()
        path = f"/api/response/{request_id}"
        with state.lock:
            request = state.requests.get(request_id)
            expired = (
                request is not None
                and request.completed is not None
                and now - request.completed > state.settings.expire_seconds
            )
            if request is not None and not expired:
                request.polls += 1
                polls, settings = request.polls, state.settings
                if request.completed is None and (
                    polls > settings.queued_polls + settings.processing_polls
                    and now - request.created >= settings.delay
                ):
                    request.completed = now
        if request is None or expired:
            message = f"Request ID {request_id} not found."
            self._record({"method": "GET", "path": path, "status": 404, "error": message})
            return self._send(404, {"error": message})
        self._record({"method": "GET", "path": path, "status": 200, "request_id": request_id})
        base = {
            "request_id": request.id,
            "user_id": 1,
            "file_names": request.names,
            **request.fields,
        }
        if request.completed is None:
            status = "queued" if request.polls <= state.settings.queued_polls else "processing"
            return self._send(200, {**base, "status": status})
        if request.error is not None:
            return self._send(200, {**base, "status": "failed", "error": request.error})
        return self._send(200, self._completed(request))

    def _completed(self, request: _Request) -> dict[str, Any]:
        return {
            "request_id": request.id,
            "status": "completed",
            "credits_paid": request.credits_paid,
            "credits": self.server.state.settings.credits,
            "note": SYNTHETIC_NOTE,
            "all": {
                "assets": request.assets,
                "errors": request.errors + self.server.state.settings.backend_errors,
            },
        }

    def _control(self, method: str, path: str, raw: bytes) -> None:
        if not ipaddress.ip_address(self.client_address[0]).is_loopback:
            return self._send(HTTPStatus.FORBIDDEN, {"error": "the control API is loopback only"})
        state = self.server.state
        data = json.loads(raw) if raw else {}
        with state.lock:
            if path == "/_emulator/log" and method == "GET":
                return self._send(200, list(state.log))
            if path == "/_emulator/requests" and method == "GET":
                return self._send(200, [
                    {"id": r.id, "sha256": r.hashes, "file_names": r.names,
                     "failed": r.error, "completed": r.completed is not None}
                    for r in state.requests.values()
                ])  # fmt: skip
            if path == "/_emulator/state" and method == "GET":
                return self._send(
                    200, {"settings": asdict(state.settings), "requests": len(state.requests)}
                )
            if path == "/_emulator/settings" and method == "POST":
                for key, value in data.items():
                    if not hasattr(state.settings, key):
                        return self._send(400, {"error": f"unknown setting {key}"})
                    setattr(state.settings, key, value)
                if "seed" in data:
                    state.rng.seed(state.settings.seed)
                return self._send(200, asdict(state.settings))
            if path == "/_emulator/faults" and method == "POST":
                if data.get("clear"):
                    state.faults.clear()
                state.faults.extend(_Fault(**f) for f in data.get("faults", []))
                return self._send(200, {"faults": len(state.faults)})
            if path == "/_emulator/expire" and method == "POST":
                ids = data.get("request_ids") or list(state.requests)
                for request_id in ids:
                    state.requests.pop(request_id, None)
                return self._send(200, {"expired": len(ids)})
        return self._send(HTTPStatus.NOT_FOUND, {"error": "no such control endpoint"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: EmulatorState, verbose: bool) -> None:
        super().__init__(address, _Handler)
        self.state = state
        self.verbose = verbose


class Emulator:
    """Given settings, serve the emulated API on host:port (port 0 picks a free one)."""

    def __init__(
        self,
        settings: EmulatorSettings | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        verbose: bool = False,
    ) -> None:
        self.state = EmulatorState(settings or EmulatorSettings())
        self._server = _Server((host, port), self.state, verbose)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def start(self) -> Emulator:
        self._thread = threading.Thread(target=self.serve_forever, name="emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
