"""``notify.webhook``: a POST of JSON ``{"delivery", "files": [{"file", "written",
"created"}]}``, signed like GitHub's webhooks: ``X-Visionati-Sync-Signature: sha256=<hex>``,
the HMAC-SHA256 of the body under the shared secret. ``delivery`` (also a header) is the
same for every attempt at one batch, so a receiver can drop a repeat."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence

import requests

from ..config.notify import WebhookNotifier
from .http import call
from .outbox import Written

SIGNATURE = "X-Visionati-Sync-Signature"
DELIVERY = "X-Visionati-Sync-Delivery"


def signature(secret: str, body: bytes) -> str:
    """Given the shared secret and a body, the signature header's value."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhook:
    name = "webhook"

    def __init__(self, settings: WebhookNotifier, secret: str | None) -> None:
        self.settings = settings
        self.secret = secret
        self.session = requests.Session()

    def send(self, entries: Sequence[Written]) -> str:
        files = [entry.as_dict() for entry in entries]
        delivery = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:32]
        body = json.dumps({"delivery": delivery, "files": files}).encode()
        headers = {"Content-Type": "application/json", DELIVERY: delivery}
        if self.secret:
            headers[SIGNATURE] = signature(self.secret, body)
        call(self.session, "POST", self.settings.url, timeout=self.settings.timeout,
             headers=headers, data=body)  # fmt: skip
        return f"posted {len(files)} files"
