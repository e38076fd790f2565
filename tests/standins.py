"""Stand-ins for the servers the notifiers talk to, which cannot run here: Immich and
PhotoPrism (each a large application with its own database and workers), and a webhook
receiver. Each implements exactly the endpoints visionati-sync calls, nothing more, with the
request and answer shapes of that project's published API description:

- Immich: ``open-api/immich-openapi-specs.json`` in immich-app/immich — ``pingServer``
  (``GET /api/server/ping``, for `doctor`), ``searchMetadata``
  (``POST /api/search/metadata``, MetadataSearchDto → SearchResponseDto; ``originalPath``
  matched as a substring, as recent servers do), ``sendJobCommand`` (``PUT /api/jobs/{id}``,
  JobCommandDto → JobStatusDto) and ``runAssetJobs`` (``POST /api/assets/jobs``,
  AssetJobsDto → 204), each authenticated by the ``x-api-key`` header.
- PhotoPrism: ``POST /api/v1/index`` (IndexOptions ``path``, ``rescan``, ``cleanup``), by
  an ``Authorization: Bearer`` token, answering ``{"code": 200, "message": …}``.

Every request is recorded; ``fail_until`` makes the server answer 503 until then, so a test
sees the retries; only requests answered 2xx count as delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

UUID_CHARS = set("0123456789abcdef-")
ASSET_JOB_NAMES = {"refresh-faces", "refresh-metadata", "regenerate-thumbnail", "transcode-video"}
JOB_COMMANDS = {"start", "pause", "resume", "empty", "clear-failed"}
JOB_NAMES = {
    "thumbnailGeneration", "metadataExtraction", "videoConversion", "faceDetection",
    "facialRecognition", "smartSearch", "duplicateDetection", "backgroundTask",
    "storageTemplateMigration", "migration", "search", "sidecar", "library", "notifications",
    "backupDatabase",
}  # fmt: skip


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body)


class StandIn:
    """An HTTP server on 127.0.0.1 in a thread of the test; ``handle`` is the endpoint
    logic of each kind, returning (status, answer)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.fail_until = 0.0  # time.monotonic(): answer 503 until then
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                if time.monotonic() < stand_in.fail_until:
                    status, answer = 503, {"message": "stand-in failing on purpose"}
                else:
                    status, answer = stand_in.handle(self.command, self.path, headers, body)
                with stand_in._lock:
                    stand_in.received.append(
                        Received(self.command, self.path, headers, body, status)
                    )
                data = b"" if answer is None else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        raise NotImplementedError

    def delivered(self, method: str | None = None, path: str | None = None) -> list[Received]:
        """The requests answered 2xx, optionally of one method and path."""
        with self._lock:
            return [
                r for r in self.received
                if 200 <= r.status < 300 and method in (None, r.method) and path in (None, r.path)
            ]  # fmt: skip

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Immich(StandIn):
    def __init__(self, key: str, assets: dict[str, str] | None = None) -> None:
        super().__init__()
        self.key = key
        self.assets: dict[str, str] = dict(assets or {})  # id → originalPath

    def add(self, original_path: str) -> str:
        asset_id = str(uuid.uuid4())
        self.assets[asset_id] = original_path
        return asset_id

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        if method == "GET" and path == "/api/server/ping":  # pingServer: no authentication
            return 200, {"res": "pong"}
        if headers.get("x-api-key") != self.key:
            return 401, {"message": "Invalid API key", "statusCode": 401}
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return 400, {"message": "body is not JSON"}
        if method == "POST" and path == "/api/search/metadata":
            return self._search(data)
        if method == "PUT" and path.startswith("/api/jobs/"):
            name = path.removeprefix("/api/jobs/")
            if name not in JOB_NAMES:
                return 400, {"message": f"id must be one of {sorted(JOB_NAMES)}"}
            if data.get("command") not in JOB_COMMANDS or not isinstance(
                data.get("force", False), bool
            ):
                return 400, {"message": "command must be a JobCommand; force a boolean"}
            counts = {"active": 0, "completed": 0, "delayed": 0, "failed": 0, "paused": 0,
                      "waiting": 1}  # fmt: skip
            status = {"isActive": True, "isPaused": False}
            return 200, {"jobCounts": counts, "queueStatus": status}
        if method == "POST" and path == "/api/assets/jobs":
            ids = data.get("assetIds")
            if not isinstance(ids, list) or not all(
                isinstance(i, str) and set(i) <= UUID_CHARS for i in ids
            ):
                return 400, {"message": "each value in assetIds must be a UUID"}
            if data.get("name") not in ASSET_JOB_NAMES:
                return 400, {"message": f"name must be one of {sorted(ASSET_JOB_NAMES)}"}
            return 204, None
        return 404, {"message": f"Cannot {method} {path}"}

    def _search(self, data: dict[str, Any]) -> tuple[int, Any]:
        wanted = data.get("originalPath")
        page, size = data.get("page", 1), data.get("size", 250)
        if not isinstance(wanted, str) or not isinstance(page, int) or page < 1:
            return 400, {"message": "originalPath must be a string, page ≥ 1"}
        if not isinstance(size, int) or not 1 <= size <= 1000:
            return 400, {"message": "size must be between 1 and 1000"}
        matches = [
            {"id": asset_id, "originalPath": original, "type": "IMAGE"}
            for asset_id, original in sorted(self.assets.items(), key=lambda kv: kv[1])
            if wanted.lower() in original.lower()
        ]
        items = matches[(page - 1) * size : page * size]
        more = len(matches) > page * size
        assets = {"total": len(items), "count": len(items), "items": items, "facets": [],
                  "nextPage": str(page + 1) if more else None}  # fmt: skip
        albums = {"total": 0, "count": 0, "items": [], "facets": []}
        return 200, {"albums": albums, "assets": assets}

    def refreshed(self) -> list[list[str]]:
        """The asset ids of each refresh-metadata job delivered, in order."""
        return [
            r.json()["assetIds"]
            for r in self.delivered("POST", "/api/assets/jobs")
            if r.json()["name"] == "refresh-metadata"
        ]


class PhotoPrism(StandIn):
    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"error": "Unauthorized"}
        if method == "POST" and path == "/api/v1/index":
            options = json.loads(body or b"{}")
            if not isinstance(options.get("path"), str) or options["path"].startswith("/"):
                return 400, {"error": "path must be relative to the originals folder"}
            return 200, {"code": 200, "message": "indexing completed"}
        return 404, {"error": "Not found"}

    def indexed(self) -> list[str]:
        return [r.json()["path"] for r in self.delivered("POST", "/api/v1/index")]


class Webhook(StandIn):
    """A receiver that checks each body's signature the way the README tells users to."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret.encode()

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        expected = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        given = headers.get("x-visionati-sync-signature", "")
        if not hmac.compare_digest(expected, given):
            return 401, {"error": "bad signature"}
        return 200, {"ok": True}

    def files(self) -> list[list[str]]:
        """The files of each delivery, in order."""
        return [[f["file"] for f in r.json()["files"]] for r in self.delivered("POST")]
