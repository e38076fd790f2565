"""One HTTP call of a notifier, its failures sorted: worth trying again (the server away,
busy or failing, the key refused: a user may fix it) or not (the request itself is wrong)."""

from __future__ import annotations

from typing import Any

import requests


class NoticeError(Exception):
    """A notification not delivered; ``permanent``: sending it again cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def call(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float,
    headers: dict[str, str] | None = None,
    json: Any = None,
    data: bytes | None = None,
) -> requests.Response:
    """Given a request, return the server's 2xx answer or raise NoticeError saying why not."""
    try:
        response = session.request(
            method, url, headers=headers, json=json, data=data, timeout=(10.0, timeout)
        )
    except requests.RequestException as exc:
        raise NoticeError(f"{method} {url}: {type(exc).__name__}: {exc}") from None
    if response.ok:
        return response
    said = f"{method} {url}: HTTP {response.status_code} {response.text[:200].strip()}"
    if response.status_code in (401, 403):
        raise NoticeError(said + " (the key or token was refused; fix it and they go out)")
    if response.status_code >= 500 or response.status_code in (408, 409, 425, 429):
        raise NoticeError(said)
    raise NoticeError(said, permanent=True)


def mapped(path: str, prefixes: dict[str, str]) -> str | None:
    """Given a path here and a map of prefixes (here → there; none: the same paths), the
    path as the other program sees it; None when no prefix holds it. The longest prefix
    wins, and a prefix matches whole folder names only."""
    if not prefixes:
        return path
    for here in sorted(prefixes, key=len, reverse=True):
        base = here.rstrip("/")
        if path == base or path.startswith(base + "/"):
            there = prefixes[here]
            rest = path[len(base) :].lstrip("/")
            if not there:  # relative to the other program's root (PhotoPrism's originals)
                return rest
            return there.rstrip("/") + ("/" + rest if rest else "")
    return None
