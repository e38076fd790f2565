"""``notify.photoprism``: PhotoPrism reads sidecars only when it indexes. Each folder that
holds written files is indexed once a batch (``POST /api/v1/index`` with its path below
PhotoPrism's originals and ``rescan: false``: only new or changed files are read again),
authenticated by an app password or access token (``Authorization: Bearer``). Shapes follow
PhotoPrism's REST API (``internal/api/index.go``, ``IndexOptions``)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import requests

from ..config.notify import PhotoPrismNotifier
from ..log import get_logger
from .http import call, mapped
from .outbox import Written

log = get_logger("photoprism")


class PhotoPrism:
    name = "photoprism"

    def __init__(self, settings: PhotoPrismNotifier, token: str | None) -> None:
        self.settings = settings
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
            self.session.headers["X-Auth-Token"] = token

    def send(self, entries: Sequence[Written]) -> str:
        folders: list[str] = []
        for entry in entries:
            there = mapped(os.path.dirname(entry.file), self.settings.path_map)
            if there is None:
                log.warning("not among PhotoPrism's originals by notify.photoprism.path_map",
                            path=entry.file)  # fmt: skip
            elif there not in folders:
                folders.append(there)
        for folder in folders:
            call(self.session, "POST", self.settings.url + "/api/v1/index",
                 json={"path": folder, "rescan": False, "cleanup": False},
                 timeout=self.settings.timeout)  # fmt: skip
        return f"indexed {len(folders)} folders"
