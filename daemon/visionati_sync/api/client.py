"""The Visionati API over HTTP: one requests.Session per client, one client per thread.

Every answer becomes either a typed result (Accepted, Completed) or a typed error carrying the
API's own message. The key is sent only to the origin of ``api.base_url``, never across a
redirect, and never to a server-chosen ``response_uri`` on another origin.
"""

from __future__ import annotations

import email.utils
import os
import re
import time
from collections.abc import Callable
from typing import IO, Any
from urllib.parse import quote, urlsplit

import requests

from .. import __version__
from .answers import (
    Accepted,
    AccessDenied,
    ApiError,
    Completed,
    FileTooLarge,
    OutOfCredits,
    RejectedRequest,
    RequestFailed,
    RequestNotFound,
    TransientError,
)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


__all__ = [
    "Accepted",
    "AccessDenied",
    "ApiClient",
    "ApiError",
    "Completed",
    "FileTooLarge",
    "OutOfCredits",
    "RejectedRequest",
    "RequestFailed",
    "RequestNotFound",
    "TransientError",
]  # fmt: skip


Answer = Accepted | Completed


def origin(url: str) -> tuple[str, str, int]:
    """Given a URL, return (scheme, host, port) with the default port made explicit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Given a Retry-After header (seconds or an HTTP date), return seconds to wait."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify_error(message: str, http_status: int | None, *, failed: bool = False) -> ApiError:
    """Given an API error message, return the typed error it means."""
    text = message.strip()
    if text.startswith("Access denied"):
        return AccessDenied(text, http_status=http_status)
    if text in ("No credits.", "Insufficient credits.") or "credits" in text.lower():
        return OutOfCredits(text, http_status=http_status)
    if text.startswith("File too large"):
        return FileTooLarge(text, http_status=http_status)
    if text.startswith("Request ID") and "not found" in text:
        return RequestNotFound(text, http_status=http_status)
    if failed:
        return RequestFailed(text, http_status=http_status)
    if http_status is not None and (http_status >= 500 or http_status == 429):
        return TransientError(f"HTTP {http_status}: {text}", http_status=http_status)
    return RejectedRequest(text, http_status=http_status)


def interpret(http_status: int, headers: dict[str, str], body: bytes) -> Answer:
    """Given an HTTP answer from the API, return what it means or raise the typed error."""
    retry_after = parse_retry_after(headers.get("retry-after") or headers.get("Retry-After"))
    if http_status == 429:
        raise TransientError("rate limited (HTTP 429)", http_status=429, retry_after=retry_after)
    if 300 <= http_status < 400:
        raise TransientError(
            f"the API answered with a redirect (HTTP {http_status}); not followed with the key",
            http_status=http_status,
        )
    try:
        data = _json(body)
    except ValueError:
        snippet = body[:80].decode("utf-8", "replace").strip() or "(empty)"
        raise TransientError(
            f"HTTP {http_status}: the answer is not JSON: {snippet!r}",
            http_status=http_status,
            retry_after=retry_after,
        ) from None
    if not isinstance(data, dict):
        raise TransientError(
            f"HTTP {http_status}: unexpected answer (a JSON {type(data).__name__})",
            http_status=http_status,
        )
    status = data.get("status")
    error = data.get("error")
    if status == "failed":
        raise classify_error(str(error or "Request failed"), http_status, failed=True)
    if error is not None:
        raise classify_error(str(error), http_status)
    if http_status >= 500:
        raise TransientError(
            f"HTTP {http_status}", http_status=http_status, retry_after=retry_after
        )
    if status == "completed":
        return _completed(data, http_status)
    if status in ("queued", "processing"):
        request_id = data.get("request_id")
        if not isinstance(request_id, str) or not _REQUEST_ID.match(request_id):
            raise TransientError(
                f"HTTP {http_status}: {status} answer without a usable request_id",
                http_status=http_status,
            )
        uri = data.get("response_uri")
        return Accepted(request_id, status, uri if isinstance(uri, str) else None)
    raise TransientError(
        f"HTTP {http_status}: unexpected answer (status {status!r})", http_status=http_status
    )


def _json(body: bytes) -> Any:
    import json

    return json.loads(body)


def _completed(data: dict[str, Any], http_status: int) -> Completed:
    results = data.get("all")
    assets = results.get("assets") if isinstance(results, dict) else None
    if not isinstance(assets, list) or not all(isinstance(a, dict) for a in assets):
        raise TransientError(
            f"HTTP {http_status}: completed answer without a list of assets",
            http_status=http_status,
        )
    errors = results.get("errors") if isinstance(results, dict) else None
    request_id = data.get("request_id")
    return Completed(
        request_id=request_id if isinstance(request_id, str) else None,
        credits_paid=_int_or_none(data.get("credits_paid")),
        credits=_int_or_none(data.get("credits")),
        assets=assets,
        errors=errors if isinstance(errors, list) else [],
    )


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class ApiClient:
    """Given the API's base URL and key, make the calls the daemon needs."""

    def __init__(
        self,
        base_url: str,
        api_key: str | Callable[[], str],
        *,
        connect_timeout: float = 10,
        read_timeout: float = 60,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._origin = origin(self.base_url)
        self._key = api_key if callable(api_key) else (lambda: api_key)
        self._timeout = (connect_timeout, read_timeout)
        self._session = requests.Session()
        self._session.headers["User-Agent"] = f"visionati-sync/{__version__}"
        # The environment's proxies and CA bundle, read once: requests would otherwise walk
        # os.environ on every call (and let a .netrc add an Authorization header).
        self._session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            self._session.verify = bundle
        self._session.trust_env = False

    def submit(self, body: IO[bytes] | bytes) -> Answer:
        """Given a JSON body (bytes, or an open file rewound to its start), POST /api/fetch."""
        return self._call("POST", f"{self.base_url}/api/fetch", body=body)

    def poll(self, request_id: str, response_uri: str | None) -> Answer:
        """Given a request id, fetch its status; a foreign response_uri is not followed."""
        return self._call("GET", self.poll_url(request_id, response_uri))

    def poll_url(self, request_id: str, response_uri: str | None) -> str:
        if response_uri and origin(response_uri) == self._origin:
            return response_uri
        if not _REQUEST_ID.match(request_id):
            raise RejectedRequest(f"refusing to poll a malformed request id {request_id!r}")
        return f"{self.base_url}/api/response/{quote(request_id, safe='')}"

    def credits(self) -> int:
        """Return the account's credit balance (GET /api/credits)."""
        response = self._send("GET", f"{self.base_url}/api/credits")
        try:
            data = _json(response.content)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("credits"), int | float):
            return int(data["credits"])
        if isinstance(data, dict) and data.get("error"):
            raise classify_error(str(data["error"]), response.status_code)
        raise TransientError(f"HTTP {response.status_code}: unexpected credits answer")

    def check_key(self) -> None:
        """Check the key without spending credits: an empty POST with a good key answers
        ``File/URL params are required.``; with a bad one, ``Access denied.``"""
        try:
            self._call("POST", f"{self.base_url}/api/fetch", body=b"{}")
        except RejectedRequest:
            return

    def _call(self, method: str, url: str, body: IO[bytes] | bytes | None = None) -> Answer:
        response = self._send(method, url, body)
        return interpret(response.status_code, dict(response.headers), response.content)

    def _send(
        self, method: str, url: str, body: IO[bytes] | bytes | None = None
    ) -> requests.Response:
        if origin(url) != self._origin:  # the one place the key is attached: check first
            raise RejectedRequest(f"refusing to send the API key to another origin: {url}")
        headers = {"X-API-Key": f"Token {self._key()}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
            if not isinstance(body, bytes):
                body.seek(0)
        try:
            return self._session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.ConnectTimeout:
            raise TransientError(
                f"{method} {_path(url)}: could not connect in time", unreachable=True
            ) from None
        except requests.Timeout:
            raise TransientError(f"{method} {_path(url)}: timed out") from None
        except requests.ConnectionError as exc:
            raise TransientError(
                f"{method} {_path(url)}: connection failed: {_reason(exc)}", unreachable=True
            ) from None
        except requests.RequestException as exc:
            raise TransientError(f"{method} {_path(url)}: {type(exc).__name__}") from None


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _reason(exc: Exception) -> str:
    """The innermost cause's words; exception chains can quote request details."""
    while exc.__context__ is not None and exc.__context__ is not exc:
        exc = exc.__context__  # type: ignore[assignment]
    text = str(exc)
    return text.split(": ", 1)[-1][:200] if text else type(exc).__name__
