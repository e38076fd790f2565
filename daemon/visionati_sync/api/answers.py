"""What the API answers, as values (Accepted, Completed) and errors, each carrying the API's
own message: what the client returns and raises, and what ``policy`` decides on. No HTTP
here, so the decisions and the job table load without an HTTP library."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ApiError(Exception):
    """The API or the network refused this call; ``str()`` is the message to show."""

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status


class TransientError(ApiError):
    """Worth retrying later: network trouble, 5xx, 429, a body we cannot read.

    ``unreachable`` means the API could not be reached at all (no connection, or it was
    dropped): the network's fault, not the file's, so it pauses uploads rather than
    counting against each file.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        retry_after: float | None = None,
        unreachable: bool = False,
    ) -> None:
        super().__init__(message, http_status=http_status)
        self.retry_after = retry_after
        self.unreachable = unreachable


class AccessDenied(ApiError):
    """The key is wrong, or the account cannot use the API yet."""


class OutOfCredits(ApiError):
    """``No credits.`` or ``Insufficient credits.``"""


class FileTooLarge(ApiError):
    """``File too large. Max 20MB.``"""


class RequestNotFound(ApiError):
    """The request id is unknown or its results expired (after 24 hours)."""


class RequestFailed(ApiError):
    """The API processed the request and reports ``status: failed``."""


class RejectedRequest(ApiError):
    """Any other error the API names: the request itself was not acceptable."""


@dataclass(frozen=True)
class Accepted:
    request_id: str
    status: str  # queued or processing
    response_uri: str | None = None


@dataclass(frozen=True)
class Completed:
    request_id: str | None
    credits_paid: int | None
    credits: int | None
    assets: list[dict[str, Any]] = field(default_factory=list)
    errors: list[Any] = field(default_factory=list)
