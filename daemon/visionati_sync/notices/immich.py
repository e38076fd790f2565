"""``notify.immich``: Immich re-reads a file's tags only when told (immich PR #14800).

For each written file, the asset is found by its path as Immich's container sees it
(``POST /api/search/metadata`` with ``originalPath``; Immich matches it as a substring in
recent versions, so only an exact match counts); a sidecar Immich has not seen needs its
sidecar-discovery job (``PUT /api/jobs/sidecar`` ``{"command": "start", "force": false}``);
then one ``POST /api/assets/jobs`` ``{"assetIds": [...], "name": "refresh-metadata"}``
re-reads them all. Calls and shapes follow Immich's OpenAPI document
(``open-api/immich-openapi-specs.json``: searchMetadata, sendJobCommand, runAssetJobs),
authenticated by the ``x-api-key`` header."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import requests

from ..config.notify import ImmichNotifier
from ..log import get_logger
from .http import NoticeError, call, mapped
from .outbox import Written

log = get_logger("immich")

PAGE_SIZE = 100
MAX_PAGES = 10  # a path's substring matches beyond this many pages: the exact one is early


class Immich:
    name = "immich"

    def __init__(self, settings: ImmichNotifier, key: str | None) -> None:
        self.settings = settings
        self.session = requests.Session()
        self.session.headers["x-api-key"] = key or ""
        self.session.headers["Accept"] = "application/json"

    def _call(self, method: str, path: str, body: dict[str, Any]) -> requests.Response:
        return call(self.session, method, self.settings.url + path, json=body,
                    timeout=self.settings.timeout)  # fmt: skip

    def find(self, path: str) -> list[str]:
        """Given a path as Immich sees it, the ids of the assets whose original it is."""
        found: list[str] = []
        page: int | None = 1
        while page is not None and page <= MAX_PAGES:
            body = {"originalPath": path, "page": page, "size": PAGE_SIZE}
            answer = self._call("POST", "/api/search/metadata", body).json()
            try:
                assets = answer["assets"]
                found += [a["id"] for a in assets["items"] if a.get("originalPath") == path]
                next_page = assets.get("nextPage")
            except (KeyError, TypeError) as exc:
                message = f"Immich's search answered without {exc}"
                raise NoticeError(message, permanent=True) from None
            page = int(next_page) if next_page and not found else None
        return found

    def send(self, entries: Sequence[Written]) -> str:
        ids: list[str] = []
        unknown = []
        for entry in entries:
            there = mapped(entry.file, self.settings.path_map)
            if there is None:
                log.warning("not in Immich's library by notify.immich.path_map", path=entry.file)
                continue
            assets = self.find(there)
            if not assets:
                unknown.append(entry.file)
            ids += assets
        if unknown:
            log.info("Immich has no asset at these paths (not imported yet?)", paths=unknown[:20],
                     count=len(unknown))  # fmt: skip
        if any(entry.created for entry in entries):
            self._call("PUT", "/api/jobs/sidecar", {"command": "start", "force": False})
        if ids:
            ids = list(dict.fromkeys(ids))
            self._call("POST", "/api/assets/jobs", {"assetIds": ids, "name": "refresh-metadata"})
        return f"refresh-metadata for {len(ids)} assets"
