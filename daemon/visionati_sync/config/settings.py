"""The configuration's shape: every section and key, its default and its check (pydantic,
whose errors name the key path). Loading a file and turning errors into messages is the
package's ``__init__``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)

from ..api import catalog
from ..api.options import RequestOptions
from ..renditions import RenditionSettings
from ..rules.retry import Backoff
from ..rules.selection import Selector
from ..rules.targets import Target
from .notify import NotifySettings

DEFAULT_BASE_URL = "https://api.visionati.com"


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
    max_attempts: int = Field(default=5, ge=1)  # the API's failures for one file
    max_server_faults: int = Field(default=10, ge=1)  # faults in a row on every upload of it
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
    # how long a daemon's claim on a file, a sidecar write or a poll lasts unless renewed
    # (every third of it); a fleet takes back a dead daemon's work after this long
    lease_seconds: float = Field(default=60.0, ge=1, le=3600)


class FolderOptions(_Section):
    """Per-folder overrides of the `api` options that shape a result (and its price)."""

    features: Features | None = Field(default=None, min_length=1)
    backends: Backends | None = None
    role: Role | None = None
    language: str | None = None
    prompt: str | None = None
    tag_score: float | None = Field(default=None, ge=0, le=1)


class KeywordSettings(_Section):
    """Which of the API's tags become keywords, and in whose words (``sidecars.keywording``).
    A folder's own ``keywords:`` section overrides the keys it sets."""

    exclude: list[str] = Field(default_factory=list)  # words or globs, case-insensitive
    # more of them, one a line: the review page's "never this word again" adds to it, so the
    # config you wrote is never rewritten
    exclude_file: Path | None = None
    rename: dict[str, str] = Field(default_factory=dict)  # the API's word: the user's
    max: int | None = Field(default=None, ge=1)
    min_score: float | None = Field(default=None, ge=0, le=1)
    min_scores: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)
    case: Literal["as-given", "lower", "capitalised"] = "as-given"
    vocabulary: Path | None = None  # a keyword list: Lightroom's export, or paths
    unmatched: Literal["keep", "drop", "under-root"] = "under-root"

    @field_validator("rename")
    @classmethod
    def _words(cls, value: dict[str, str]) -> dict[str, str]:
        if any(not str(k).strip() or not str(v).strip() for k, v in value.items()):
            raise ValueError("a word cannot be renamed from or to nothing")
        return value


class FolderSettings(_Section):
    path: Path
    # the folder's name in the job table (default: its path): daemons that mount one share
    # at different paths give it the same name, and so share its jobs
    name: str | None = Field(default=None, min_length=1, max_length=255)
    recursive: bool = True
    api: FolderOptions | None = None
    keywords: KeywordSettings | None = None  # the keys set here override `keywords`
    apply: Literal["auto", "review"] | None = None  # overrides `sidecars.apply`
    targets: list[Target] | None = None  # overrides `sidecars.targets`

    @property
    def table_name(self) -> str:
        return self.name if self.name is not None else str(self.path)

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
    description_sources: list[str] = Field(default_factory=list)
    overwrite_description: bool = False
    # review: results are stored (and paid) but no sidecar changes until `apply`
    apply: Literal["auto", "review"] = "auto"
    marker_keyword: str | None = Field(default=None, min_length=1)  # on every photo tagged
    # the photo managers whose places get the tags (``rules.targets``); none: xmp_naming
    targets: list[Target] = Field(default_factory=list)
    embed: bool = False  # the tags go inside JPEG, TIFF, DNG, PNG, WebP, HEIC, AVIF, MP4, MOV
    embed_backup: Path | None = None  # a copy of each file as it was, before its first embed

    @field_validator("targets")
    @classmethod
    def _once_each(cls, value: list[Target]) -> list[Target]:
        return list(dict.fromkeys(value))

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


class UploadSettings(_Section):
    """How files the API does not take as they are become what is sent (``renditions``)."""

    max_edge: int = Field(default=2048, ge=256, le=16384)  # the models work at about 2048 px
    jpeg_quality: int = Field(default=90, ge=50, le=100)
    keep_metadata: bool = False  # a converted file's EXIF (GPS!) stays home unless true
    min_preview_edge: int = Field(default=1024, ge=64)  # a RAW's preview smaller: demosaic
    max_pixels: int = Field(default=200_000_000, ge=1_000_000)  # larger: refused, not decoded
    pairs: Literal["share", "separate"] = "share"  # RAW+JPEG of one photograph: paid once
    # files go by synthetic names (v3fa9c21.jpg); true sends their own (the API's dashboard
    # shows them), made unique within a request even once the API rewrites them
    send_file_names: bool = False


class VideoSettings(_Section):
    capture_interval: Literal["auto"] | Annotated[int, Field(ge=1)] = "auto"
    max_frames: int = Field(default=3, ge=1, le=100)  # each frame is charged as an image


class WatchSettings(_Section):
    settle_seconds: float = Field(default=2.0, ge=0)
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    folder_retry_interval: float = Field(default=30.0, gt=0)
    rescan_interval: float = Field(default=3600.0, ge=0)  # 0 = never
    max_settle_seconds: float = Field(default=300.0, gt=0)
    polling: bool = False  # the same as mode: poll
    retag_on_change: bool = True
    # auto: inotify, and on a network filesystem (NFS, SMB, sshfs and other FUSE, 9p) also
    # a scan every network_scan_interval (inotify sees nothing other machines write there);
    # inotify, poll (watchdog's polling observer) or scan (scheduled scans only) force one
    mode: Literal["auto", "inotify", "poll", "scan"] = "auto"
    network_scan_interval: float = Field(default=600.0, gt=0)  # jittered by a tenth

    def selector(self) -> Selector:
        return Selector(tuple(self.include), tuple(self.exclude))


class ScanSettings(_Section):
    # a scan that stops early (a budget, no credits, Ctrl-C) still collects what it paid
    # for; a request the API holds longer than this is left for the next run
    collect_timeout: float = Field(default=600.0, ge=0)


def _host_port(example: str, lowest: int) -> AfterValidator:
    """A ``host:port`` check, its message naming an example."""

    def check(value: str | None) -> str | None:
        if value is None:
            return None
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not lowest <= int(port) < 65536:
            raise ValueError(f"must be host:port, e.g. {example}")
        return value

    return AfterValidator(check)


class MetricsSettings(_Section):
    # host:port for a Prometheus text endpoint (/metrics), e.g. 127.0.0.1:9464; off when unset
    listen: Annotated[str | None, _host_port("127.0.0.1:9464", 1)] = None


class UiSettings(_Section):
    # host:port for the review page and dashboard, e.g. 127.0.0.1:8750; off when unset
    listen: Annotated[str | None, _host_port("127.0.0.1:8750 (port 0: any free one)", 0)] = None
    password_file: Path | None = None  # needed to listen anywhere but this machine


class Settings(_Section):
    api: ApiSettings = Field(default_factory=ApiSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    ui: UiSettings = Field(default_factory=UiSettings)
    folders: list[FolderSettings] = Field(default_factory=list)
    keywords: KeywordSettings = Field(default_factory=KeywordSettings)
    scan: ScanSettings = Field(default_factory=ScanSettings)
    sidecars: SidecarSettings = Field(default_factory=SidecarSettings)
    upload: UploadSettings = Field(default_factory=UploadSettings)
    video: VideoSettings = Field(default_factory=VideoSettings)
    watch: WatchSettings = Field(default_factory=WatchSettings)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_progress_interval: float = Field(default=60.0, ge=0)  # the daemon's progress line

    def renditions(self) -> RenditionSettings:
        """What ``renditions`` needs of the ``upload`` and ``video`` sections."""
        interval = self.video.capture_interval
        return RenditionSettings(
            max_edge=self.upload.max_edge,
            jpeg_quality=self.upload.jpeg_quality,
            keep_metadata=self.upload.keep_metadata,
            min_preview_edge=self.upload.min_preview_edge,
            max_pixels=self.upload.max_pixels,
            capture_interval=None if interval == "auto" else interval,
            max_frames=self.video.max_frames,
            pairs=self.upload.pairs,
            settle_seconds=self.watch.settle_seconds,
        )

    @model_validator(mode="before")
    @classmethod
    def _empty_sections_mean_defaults(cls, data: Any) -> Any:
        """``database:`` with every key commented out is YAML null: take the defaults."""
        if isinstance(data, dict):
            data = {k: ({} if v is None and k != "folders" else v) for k, v in data.items()}
            return _older_names(data)
        return data


def _older_names(data: dict[str, Any]) -> dict[str, Any]:
    """``sidecars.max_keywords`` and ``sidecars.min_tag_score`` are read as ``keywords.max``
    and ``keywords.min_score`` (their names before the keywords section)."""
    sidecars = data.get("sidecars")
    if not isinstance(sidecars, dict):
        return data
    moved = {"max_keywords": "max", "min_tag_score": "min_score"}
    if not any(old in sidecars for old in moved):
        return data
    keywords = data.get("keywords")
    keywords = dict(keywords) if isinstance(keywords, dict) else {}
    for old, new in moved.items():
        if old in sidecars:
            keywords.setdefault(new, sidecars[old])
    rest = {k: v for k, v in sidecars.items() if k not in moved}
    return data | {"sidecars": rest, "keywords": keywords}
