"""Who may use the page. Bound to this machine by default; the first address the server
prints carries a random token, which becomes a session cookie (HttpOnly, SameSite=Strict);
every request must name an expected Host (a DNS-rebinding page names its own); every change
must come from our own Origin and carry the session's CSRF token. Listening beyond this
machine needs a password (HTTP Basic), said at start. Pure decisions over a request's
headers: the app turns a refusal into a response."""

from __future__ import annotations

import base64
import getpass
import hmac
import secrets
from dataclasses import dataclass, field

COOKIE = "vsync_session"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Visitor:
    """A request let in: its session (new: set the cookie) and who it is, for the record."""

    session: str
    csrf: str
    who: str
    new: bool = False


def is_local(host: str) -> bool:
    return host in LOCAL_HOSTS


class Guard:
    def __init__(self, host: str, port: int, password: str | None = None) -> None:
        if not is_local(host) and not password:
            raise ValueError(
                f"the review page would listen on {host}, beyond this machine, with no "
                "password: set ui.password_file (or $VISIONATI_SYNC_UI_PASSWORD, or the "
                "credential ui-password), or listen on 127.0.0.1"
            )
        self.host, self.port = host, port
        self.password = password
        self.token = secrets.token_urlsafe(24)
        self._sessions: dict[str, str] = {}  # session id → its CSRF token
        names = {_bracketed(host)} | (set(LOCAL_HOSTS) - {"::1"} if is_local(host) else set())
        self.hosts = {f"{name}:{port}" for name in names}
        self.origins = {f"http://{h}" for h in self.hosts}

    @property
    def address(self) -> str:
        """The first address to open: it carries the token."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104
        return f"http://{_bracketed(host)}:{self.port}/?token={self.token}"

    def admit(
        self, method: str, headers: dict[str, str], cookie: str | None, token: str | None,
        change: bool,
    ) -> Visitor | Refusal:  # fmt: skip
        """Given a request (headers lower-cased), let it in or say why not."""
        named = headers.get("host", "") in self.hosts  # a name we answer to, only
        if (self.password is None or is_local(self.host)) and not named:
            return Refusal(403, "this page answers only to the address it was opened at")
        who = getpass.getuser()
        if self.password is not None:
            user = _basic_user(headers.get("authorization", ""), self.password)
            if user is None:
                challenge = 'Basic realm="visionati-sync", charset="UTF-8"'
                return Refusal(401, "password needed", {"WWW-Authenticate": challenge})
            who = user or who
        session = cookie if cookie in self._sessions else None
        new = False
        if session is None:
            if method != "GET" or not token or not hmac.compare_digest(token, self.token):
                return Refusal(403, "open the address `visionati-sync ui` (or the daemon's "
                               "log) printed: it carries this page's token")  # fmt: skip
            session, new = secrets.token_urlsafe(24), True
            self._sessions[session] = secrets.token_urlsafe(24)
        csrf = self._sessions[session]
        if change:
            if headers.get("origin") not in self.origins:
                return Refusal(403, "a change must come from this page (its Origin)")
            if not hmac.compare_digest(headers.get("x-csrf-token", ""), csrf):
                return Refusal(403, "a change must carry this page's CSRF token")
        return Visitor(session, csrf, f"{who} (review page)", new)


def _bracketed(host: str) -> str:
    """A host as a URL and a Host header name it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _basic_user(header: str, password: str) -> str | None:
    """The user name of a good Basic authorization ("" when none given), else None."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, given = base64.b64decode(value).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user if hmac.compare_digest(given.encode(), password.encode()) else None
