"""The ``notify`` section: which photo managers (and programs) are told after tags are
written, and how patiently. Each notifier's secret comes, like the API key, from the
environment, a systemd credential, a file or the config itself (``Config.secret``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// address")
    return value.rstrip("/")


def _prefixes(value: dict[str, str]) -> dict[str, str]:
    for host in value:
        if not host.startswith("/"):
            raise ValueError(f"{host!r}: each key is an absolute path on this machine")
    return value


class CommandNotifier(_Section):
    # the program and its arguments: the written paths come NUL-separated on its stdin,
    # the details as JSON in $VISIONATI_SYNC_NOTICE
    run: list[str] = Field(min_length=1)
    timeout: float = Field(default=60.0, gt=0)


class WebhookNotifier(_Section):
    url: str
    secret: SecretStr | None = None  # signs each body (X-Visionati-Sync-Signature)
    secret_file: Path | None = None
    timeout: float = Field(default=30.0, gt=0)

    _url = field_validator("url")(_http_url)


class ImmichNotifier(_Section):
    url: str  # Immich's address, e.g. http://immich.local:2283 (its API is under /api)
    key: SecretStr | None = None  # an API key with asset.read and job rights
    key_file: Path | None = None
    # this machine's path prefix -> the same folder as Immich's container sees it
    path_map: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=30.0, gt=0)

    _url = field_validator("url")(_http_url)
    _map = field_validator("path_map")(_prefixes)


class PhotoPrismNotifier(_Section):
    url: str  # PhotoPrism's address, e.g. http://photoprism.local:2342
    token: SecretStr | None = None  # an app password or access token
    token_file: Path | None = None
    # this machine's path prefix -> the folder below PhotoPrism's originals ("" for its root)
    path_map: dict[str, str] = Field(min_length=1)
    timeout: float = Field(default=300.0, gt=0)  # an index run answers when it has finished

    _url = field_validator("url")(_http_url)
    _map = field_validator("path_map")(_prefixes)


class NotifySettings(_Section):
    command: CommandNotifier | None = None
    webhook: WebhookNotifier | None = None
    immich: ImmichNotifier | None = None
    photoprism: PhotoPrismNotifier | None = None
    debounce: float = Field(default=5.0, ge=0)  # quiet this long after the last write, then tell
    max_delay: float = Field(default=60.0, gt=0)  # but never hold a write longer than this
    batch_max: int = Field(default=500, ge=1)  # files in one notification
    retry_base_delay: float = Field(default=2.0, gt=0)
    retry_max_delay: float = Field(default=300.0, gt=0)

    def named(self) -> list[str]:
        """The notifiers configured, by name."""
        return [n for n in ("command", "webhook", "immich", "photoprism") if getattr(self, n)]
