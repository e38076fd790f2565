"""Where secrets come from: the API key and each notifier's. For every one the environment
wins over a systemd credential (``$CREDENTIALS_DIRECTORY/<name>``, from the unit's
LoadCredential= or LoadCredentialEncrypted=), which wins over a file the config names, which
wins over the config itself: a secret need never sit in a file others read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from .notify import NotifySettings

KEY_ENV = "VISIONATI_API_KEY"
CREDENTIAL = "api-key"  # the systemd credential holding the key


class SecretError(Exception):
    """A secret's file cannot be read, or is empty: the message names where."""


@dataclass(frozen=True)
class Source:
    """The places one secret may come from, and the key path that names it."""

    env: str
    credential: str
    file: Path | None
    inline: SecretStr | None
    file_key: str  # e.g. api.key_file, for messages


def read_secret(source: Source, origin: str, environ: Mapping[str, str]) -> str | None:
    """Given where a secret may be, return it (None: nowhere); raise SecretError naming the
    file and key path when a named file cannot be read or is empty."""
    if environ.get(source.env, "").strip():
        return environ[source.env].strip()
    credentials = environ.get("CREDENTIALS_DIRECTORY", "")
    if credentials and (Path(credentials) / source.credential).exists():
        where = f"$CREDENTIALS_DIRECTORY/{source.credential} (systemd's LoadCredential=)"
        return _from_file(Path(credentials) / source.credential, f"{origin}: {where}")
    if source.file is not None:
        return _from_file(source.file, f"{origin}: {source.file_key}")
    if source.inline is not None:
        return source.inline.get_secret_value().strip() or None
    return None


def ui_password_source(file: Path | None) -> Source:
    """Where the review page's password may come from (needed off this machine)."""
    return Source("VISIONATI_SYNC_UI_PASSWORD", "ui-password", file, None, "ui.password_file")


def notifier_sources(notify: NotifySettings) -> dict[str, Source]:
    """Given the notify section, where each configured notifier's secret may come from."""
    sources = {}
    if notify.webhook is not None:
        sources["webhook"] = Source(
            "VISIONATI_SYNC_WEBHOOK_SECRET", "webhook-secret", notify.webhook.secret_file,
            notify.webhook.secret, "notify.webhook.secret_file",
        )  # fmt: skip
    if notify.immich is not None:
        sources["immich"] = Source(
            "VISIONATI_SYNC_IMMICH_KEY", "immich-key", notify.immich.key_file,
            notify.immich.key, "notify.immich.key_file",
        )  # fmt: skip
    if notify.photoprism is not None:
        sources["photoprism"] = Source(
            "VISIONATI_SYNC_PHOTOPRISM_TOKEN", "photoprism-token", notify.photoprism.token_file,
            notify.photoprism.token, "notify.photoprism.token_file",
        )  # fmt: skip
    return sources


def _from_file(path: Path, what: str) -> str:
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretError(f"{what}: cannot read: {exc.strerror}") from None
    if not secret:
        raise SecretError(f"{what}: the file is empty")
    return secret
