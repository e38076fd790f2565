"""The request options that shape a result, and their fingerprint.

Two uploads of the same bytes with the same options give the same result, so the fingerprint
(with the file's sha256) is what a cached result is keyed by, and what a re-tag compares.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from . import catalog


@dataclass(frozen=True)
class RequestOptions:
    features: tuple[str, ...]
    backends: tuple[str, ...]
    role: str
    language: str
    prompt: str | None
    tag_score: float
    _fingerprint: str = field(init=False, repr=False, compare=False, default="")

    def __post_init__(self) -> None:
        canonical = self.as_dict()
        canonical["features"] = sorted(self.features)
        canonical["backends"] = sorted(self.backends)
        blob = json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()
        object.__setattr__(self, "_fingerprint", hashlib.sha256(blob).hexdigest()[:16])

    def as_dict(self) -> dict[str, Any]:
        """Given the options, return them as plain JSON-able data (sidecars record this)."""
        data = asdict(self)
        del data["_fingerprint"]
        data["features"] = list(self.features)
        data["backends"] = list(self.backends)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RequestOptions:
        """Given ``as_dict()``'s data (a journal's entry), the options again."""
        return cls(
            features=tuple(data["features"]),
            backends=tuple(data["backends"]),
            role=data["role"],
            language=data["language"],
            prompt=data["prompt"],
            tag_score=data["tag_score"],
        )

    def payload_fields(self) -> dict[str, Any]:
        """Given the options, return the `POST /api/fetch` fields they become.

        An empty backend list is omitted so that the account's defaults apply.
        """
        fields: dict[str, Any] = {
            "feature": list(self.features),
            "role": self.role,
            "language": self.language,
            "tag_score": self.tag_score,
        }
        if self.backends:
            fields["backend"] = list(self.backends)
        if self.prompt:
            fields["prompt"] = self.prompt
        return fields

    def credits_per_image(self) -> int:
        """What one image costs under these options, by the price table."""
        return catalog.credits_per_image(self.backends, self.features, self.prompt)

    def fingerprint(self) -> str:
        """A short stable hash; order of features and backends does not matter to the API."""
        return self._fingerprint
