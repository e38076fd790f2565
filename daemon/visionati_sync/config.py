"""Load and validate the YAML configuration.

Every error names the file, the key path and what is wrong, e.g.
``config.yaml: folders[1].path: directory does not exist``, so a user can fix it without
reading code. Validation is pydantic's; this module only shapes its messages.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from . import catalog
from .options import RequestOptions
from .retry import Backoff
from .selection import Selector

DEFAULT_BASE_URL = "https://api.visionati.com"
CONFIG_ENV = "VISIONATI_SYNC_CONFIG"
KEY_ENV = "VISIONATI_API_KEY"


class ConfigError(Exception):
    """A configuration problem, worded for the user: file, key path, what is wrong."""


def _check_known(kind: str, known: tuple[str, ...], values: list[str]) -> list[str]:
    """Given names from the config, check each is one the API knows, and listed once."""
    for value in values:
        if value not in known:
            raise ValueError(f"unknown {kind} {value!r}; known: {', '.join(known)}")
    if len(set(values)) != len(values):
        raise ValueError(f"a {kind} is listed twice")
    return values


Features = Annotated[
    list[str], AfterValidator(lambda v: _check_known("feature", catalog.FEATURES, v))
]
Backends = Annotated[
    list[str], AfterValidator(lambda v: _check_known("backend", catalog.BACKENDS, v))
]
Role = Annotated[str, AfterValidator(lambda v: _check_known("role", catalog.ROLES, [v])[0])]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiSettings(_Section):
    base_url: str = DEFAULT_BASE_URL
    key: SecretStr | None = None
    key_file: Path | None = None
    features: Features = Field(default_factory=lambda: ["tags", "descriptions"], min_length=1)
    backends: Backends = Field(default_factory=list)
    role: Role = "general"
    language: str = "English"
    prompt: str | None = None
    tag_score: float = Field(default=0.9, ge=0, le=1)
    poll_interval: float = Field(default=2.0, gt=0, le=3600)
    batch_size: int = Field(default=8, ge=1, le=100)
    timeout: float = Field(default=60.0, gt=0, description="read timeout per HTTP call, seconds")
    connect_timeout: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    retry_base_delay: float = Field(default=2.0, gt=0)  # first retry after about this long
    retry_max_delay: float = Field(default=600.0, gt=0)  # and never more than this apart
    max_inflight_requests: int = Field(default=4, ge=1)
    max_request_bytes: int = Field(default=128 * 1024 * 1024, ge=1024 * 1024)
    max_credits_per_day: int | None = Field(default=None, ge=0)
    max_credits_total: int | None = Field(default=None, ge=0)
    auth_retry_interval: float = Field(default=300.0, gt=0)
    credit_check_interval: float = Field(default=60.0, gt=0)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or value[-3:] == "://":
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    def backoff(self) -> Backoff:
        return Backoff(
            base=self.retry_base_delay, cap=max(self.retry_base_delay, self.retry_max_delay)
        )

    def request_options(self) -> RequestOptions:
        return RequestOptions(
            features=tuple(self.features),
            backends=tuple(self.backends),
            role=self.role,
            language=self.language,
            prompt=self.prompt or None,
            tag_score=self.tag_score,
        )


class DatabaseSettings(_Section):
    url: str | None = None
    busy_timeout: float = Field(default=30.0, gt=0)  # seconds to wait for another writer


class FolderOptions(_Section):
    """Per-folder overrides of the `api` options that shape a result (and its price)."""

    features: Features | None = Field(default=None, min_length=1)
    backends: Backends | None = None
    role: Role | None = None
    language: str | None = None
    prompt: str | None = None
    tag_score: float | None = Field(default=None, ge=0, le=1)


class FolderSettings(_Section):
    path: Path
    recursive: bool = True
    api: FolderOptions | None = None
    _label: str = PrivateAttr(default="")
    _inside: frozenset[str] = PrivateAttr(default=frozenset())

    @property
    def label(self) -> str:
        """Where the config file names this folder: ``folders[2]``."""
        return self._label or "folders[?]"

    @property
    def inside(self) -> frozenset[str]:
        """Other configured folders inside this one, as paths relative to it: their files
        are theirs alone (their own options, their own recursive setting)."""
        return self._inside


class SidecarSettings(_Section):
    formats: list[Literal["xmp", "json"]] = Field(
        default_factory=lambda: ["xmp", "json"],  # type: ignore[arg-type]
        min_length=1,
    )
    json_suffix: str = ".visionati.json"
    xmp_naming: Literal["append", "replace"] = "append"
    hierarchy_root: str = "Visionati"
    max_keywords: int | None = Field(default=None, ge=1)
    min_tag_score: float | None = Field(default=None, ge=0, le=1)
    description_sources: list[str] = Field(default_factory=list)
    overwrite_description: bool = False

    @field_validator("hierarchy_root")
    @classmethod
    def _plain_root(cls, value: str) -> str:
        if "|" in value or "/" in value:
            raise ValueError("must be one level: no '|' or '/'")
        return value.strip()

    @field_validator("json_suffix")
    @classmethod
    def _own_suffix(cls, value: str) -> str:
        if not value.startswith(".") or "/" in value:
            raise ValueError("must start with '.' and name no folder")
        if value.lower() in (".json", ".xmp"):
            raise ValueError(f"{value!r} would clobber other programs' sidecars")
        return value


class WatchSettings(_Section):
    settle_seconds: float = Field(default=2.0, ge=0)
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    folder_retry_interval: float = Field(default=30.0, gt=0)
    rescan_interval: float = Field(default=3600.0, ge=0)  # 0 = never
    max_settle_seconds: float = Field(default=300.0, gt=0)
    polling: bool = False
    retag_on_change: bool = True

    def selector(self) -> Selector:
        return Selector(tuple(self.include), tuple(self.exclude))


class Settings(_Section):
    api: ApiSettings = Field(default_factory=ApiSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    folders: list[FolderSettings] = Field(default_factory=list)
    sidecars: SidecarSettings = Field(default_factory=SidecarSettings)
    watch: WatchSettings = Field(default_factory=WatchSettings)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @model_validator(mode="before")
    @classmethod
    def _empty_sections_mean_defaults(cls, data: Any) -> Any:
        """``database:`` with every key commented out is YAML null: take the defaults."""
        if isinstance(data, dict):
            return {k: ({} if v is None and k != "folders" else v) for k, v in data.items()}
        return data


class Config:
    """Validated settings plus where they came from and the resolved secret."""

    def __init__(
        self, settings: Settings, source: str, api_key: str | None, warnings: Sequence[str] = ()
    ) -> None:
        self.settings = settings
        self.source = source
        self.warnings = list(warnings)  # worth saying, not worth refusing to start
        self._api_key = api_key
        self._options: dict[str, RequestOptions] = {}

    @property
    def api_key(self) -> str | None:
        return self._api_key

    def require_api_key(self) -> str:
        if not self._api_key:
            raise ConfigError(
                f"{self.source}: api: no API key; set {KEY_ENV}, api.key_file or api.key"
            )
        return self._api_key

    def options_for(self, folder: str | Path) -> RequestOptions:
        """Given a watched folder, return the request options its files are tagged with."""
        key = str(folder)
        if key not in self._options:
            self._options[key] = self._resolve_options(key)
        return self._options[key]

    def _resolve_options(self, folder: str) -> RequestOptions:
        base = self.settings.api.request_options()
        for candidate in self.settings.folders:
            if str(candidate.path) == str(folder) and candidate.api is not None:
                overrides: dict[str, Any] = {
                    key: tuple(value) if isinstance(value, list) else value
                    for key, value in candidate.api.model_dump(exclude_none=True).items()
                }
                return replace(base, **overrides)
        return base

    def database_url(self, environ: Mapping[str, str] = os.environ) -> str:
        if self.settings.database.url:
            return self.settings.database.url
        return f"sqlite:///{state_directory(environ) / 'visionati-sync.db'}"

    def __repr__(self) -> str:  # never show the key
        return f"Config(source={self.source!r})"


def state_directory(environ: Mapping[str, str] = os.environ) -> Path:
    """Given the environment, return where the daemon keeps its database.

    systemd's StateDirectory= sets $STATE_DIRECTORY; otherwise the XDG location.
    """
    if environ.get("STATE_DIRECTORY"):
        return Path(environ["STATE_DIRECTORY"].split(":")[0])
    if environ.get("XDG_STATE_HOME"):
        return Path(environ["XDG_STATE_HOME"]) / "visionati-sync"
    return Path(environ.get("HOME", "~")).expanduser() / ".local/state/visionati-sync"


def default_config_path(environ: Mapping[str, str] = os.environ) -> Path:
    """Given the environment, return the config file to use when -c is not given: the one
    $VISIONATI_SYNC_CONFIG names, else the user's, else the system's. Raises ConfigError
    naming every place looked at when there is none."""
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    user = Path(environ.get("HOME", "~")).expanduser() / ".config/visionati-sync/config.yaml"
    system = Path("/etc/visionati-sync/config.yaml")
    for candidate in (user, system):
        if candidate.exists():
            return candidate
    raise ConfigError(
        f"no config file: looked for ${CONFIG_ENV} (not set), {user} and {system}; give one "
        "with -c FILE (config.example.yaml documents every key)"
    )


def format_location(loc: tuple[int | str, ...]) -> str:
    """Given pydantic's error location, return it as a key path: ``folders[1].path``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def parse_settings(data: Any, source: str) -> Settings:
    """Given parsed YAML, return validated Settings or raise ConfigError naming each problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: (top level): must be a mapping of sections, not a list")
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False, include_input=False):
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            lines.append(f"{source}: {format_location(error['loc'])}: {message}")
        raise ConfigError("\n".join(lines)) from None


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    """Relative paths in the file are relative to the file's own folder; ~ is expanded."""

    def resolve(path: Path) -> Path:
        path = Path(os.path.expandvars(str(path))).expanduser()
        return Path(os.path.realpath(base / path))  # real: `lib`, `lib/../lib`, a link to it

    folders = [f.model_copy(update={"path": resolve(f.path)}) for f in settings.folders]
    key_file = settings.api.key_file and resolve(settings.api.key_file)
    return settings.model_copy(
        update={
            "folders": folders,
            "api": settings.api.model_copy(update={"key_file": key_file}),
        }
    )


def _read_key(settings: Settings, source: str, environ: Mapping[str, str]) -> str | None:
    """The environment wins over api.key_file, which wins over api.key."""
    if environ.get(KEY_ENV, "").strip():
        return environ[KEY_ENV].strip()
    if settings.api.key_file is not None:
        try:
            key = settings.api.key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{source}: api.key_file: cannot read: {exc.strerror}") from None
        if not key:
            raise ConfigError(f"{source}: api.key_file: the file is empty")
        return key
    if settings.api.key is not None:
        return settings.api.key.get_secret_value().strip() or None
    return None


def load_config(path: Path, environ: Mapping[str, str] = os.environ) -> Config:
    """Given a config file, return the validated Config, or raise ConfigError."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(top level)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}: {where}: not valid YAML: {problem}") from None
    settings = _resolve_paths(parse_settings(data, source), path.parent.resolve())
    for index, folder in enumerate(settings.folders):
        if folder.path.exists() and not folder.path.is_dir():
            raise ConfigError(f"{source}: folders[{index}].path: not a directory")
    settings, warnings = _place_folders(settings, source)
    return Config(settings, source, _read_key(settings, source, environ), warnings)


def _place_folders(settings: Settings, source: str) -> tuple[Settings, list[str]]:
    """Given settings with real folder paths, watch each folder once (a folder named twice
    keeps its first entry), and tell each folder which configured folders lie inside it: a
    file is one job, its folder's, however the folders overlap."""
    kept: list[FolderSettings] = []
    warnings = []
    first: dict[Path, str] = {}
    for index, folder in enumerate(settings.folders):
        if folder.path in first:
            warnings.append(
                f"{source}: folders[{index}].path: the same folder as {first[folder.path]} "
                f"({folder.path}); watched once, with the first entry's settings"
            )
            continue
        first[folder.path] = f"folders[{index}]"
        placed = folder.model_copy()
        placed._label = first[folder.path]
        kept.append(placed)
    for folder in kept:
        inner = [other for other in kept if folder.path in other.path.parents]
        folder._inside = frozenset(o.path.relative_to(folder.path).as_posix() for o in inner)
        warnings += [
            f"{source}: {other.label}.path lies inside {folder.label}.path: its files are "
            f"{other.label}'s, with its options" for other in inner
        ]  # fmt: skip
    return settings.model_copy(update={"folders": kept}), warnings


def missing_folders(config: Config) -> list[str]:
    """Given a config, return a message for each folder that does not exist (yet).

    Not a load error: an unmounted share or a drop folder made later must not stop the
    daemon from watching the others.
    """
    return [
        f"{config.source}: {folder.label}.path: directory does not exist ({folder.path})"
        for folder in config.settings.folders
        if not folder.path.is_dir()
    ]
