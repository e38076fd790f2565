"""Load and validate the YAML configuration: find the file, parse it, check it against
``settings`` (the shape of every section), resolve its paths, read the key.

Every error names the file, the key path and what is wrong, e.g.
``config.yaml: folders[1].path: directory does not exist``, so a user can fix it without
reading code. Validation is pydantic's; this package only shapes its messages.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel

from ..api.options import RequestOptions
from ..places import state_directory
from ..records import FolderNames
from ..rules import vocabulary
from ..rules.keywording import KeywordRules
from ..rules.vocabulary import Vocabulary
from . import exclusions
from .messages import ConfigError, parse_settings
from .notify import NotifySettings
from .secrets import (
    KEY_ENV,
    SecretError,
    Source,
    notifier_sources,
    read_secret,
    ui_password_source,
)
from .settings import (
    DEFAULT_BASE_URL,
    ApiSettings,
    DatabaseSettings,
    FolderOptions,
    FolderSettings,
    KeywordSettings,
    Settings,
    SidecarSettings,
    WatchSettings,
)

__all__ = [
    "DEFAULT_BASE_URL", "ApiSettings", "Config", "ConfigError", "DatabaseSettings",
    "FolderOptions", "FolderSettings", "KeywordSettings", "NotifySettings", "Settings",
    "SidecarSettings",
    "WatchSettings",
    "default_config_path", "load_config", "missing_folders", "parse_settings",
    "state_directory",
]  # fmt: skip

CONFIG_ENV = "VISIONATI_SYNC_CONFIG"
Section = TypeVar("Section", bound=BaseModel)


class Config:
    """Validated settings plus where they came from and the resolved secret."""

    def __init__(
        self,
        settings: Settings,
        source: str,
        api_key: str | None,
        warnings: Sequence[str] = (),
        secrets: Mapping[str, str | None] | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.warnings = list(warnings)  # worth saying, not worth refusing to start
        self._api_key = api_key
        self._secrets = dict(secrets or {})  # each notifier's key, token or signing secret
        self._options: dict[str, RequestOptions] = {}
        # each folder's rules, with the exclusion file's stamp when they were read
        self._rules: dict[str, tuple[Any, Path | None, KeywordRules]] = {}
        self._vocabularies: dict[Path, Vocabulary] = {}

    @property
    def api_key(self) -> str | None:
        return self._api_key

    def require_api_key(self) -> str:
        if not self._api_key:
            raise ConfigError(
                f"{self.source}: api: no API key; set {KEY_ENV}, api.key_file or api.key"
            )
        return self._api_key

    def secret(self, notifier: str) -> str | None:
        """Given a notifier's name, its key, token or signing secret (None: none given)."""
        return self._secrets.get(notifier)

    def secrets(self) -> list[str]:
        """Every secret this config holds, for the log to hide."""
        return [s for s in (self._api_key, *self._secrets.values()) if s]

    def options_for(self, folder: str | Path) -> RequestOptions:
        """Given a watched folder, return the request options its files are tagged with."""
        key = str(folder)
        if key not in self._options:
            self._options[key] = self._resolve_options(key)
        return self._options[key]

    def _resolve_options(self, folder: str) -> RequestOptions:
        base = self.settings.api.request_options()
        own = self._folder(folder)
        if own is None or own.api is None:
            return base
        overrides: dict[str, Any] = {
            key: tuple(value) if isinstance(value, list) else value
            for key, value in own.api.model_dump(exclude_none=True).items()
        }
        return replace(base, **overrides)

    def _folder(self, folder: str | Path | None) -> FolderSettings | None:
        """The configured folder at this path (None: not one of them)."""
        return next((f for f in self.settings.folders if str(f.path) == str(folder)), None)

    def keywords_section(self, folder: str | Path | None = None) -> KeywordSettings:
        """Given a watched folder (None: the defaults), its `keywords` section: the config's,
        with the folder's own keys over it."""
        section = self.settings.keywords
        own = self._folder(folder)
        if own is not None and own.keywords is not None:
            section = section.model_copy(update=own.keywords.model_dump(exclude_unset=True))
        return section

    def keyword_rules(self, folder: str | Path | None = None) -> KeywordRules:
        """Given a watched folder (None: the defaults), the rules its keywords are chosen
        by; read again when ``keywords.exclude_file`` changed (the review page adds to it)."""
        key = str(folder)
        cached = self._rules.get(key)
        if cached is not None and cached[0] == exclusions.stamp(cached[1]):
            return cached[2]
        section = self.keywords_section(folder)
        seen = exclusions.stamp(section.exclude_file)
        rules = KeywordRules(
            exclude=tuple(section.exclude) + exclusions.read_exclusions(section.exclude_file),
            rename={k.strip().casefold(): v.strip() for k, v in section.rename.items()},
            max=section.max,
            min_score=section.min_score,
            min_scores={k.strip().casefold(): v for k, v in section.min_scores.items()},
            case=section.case,
            vocabulary=self._vocabulary(section.vocabulary),
            unmatched=section.unmatched,
            root=self.settings.sidecars.hierarchy_root,
            marker=self.settings.sidecars.marker_keyword,
        )
        self._rules[key] = (seen, section.exclude_file, rules)
        return rules

    def _vocabulary(self, path: Path | None) -> Vocabulary | None:
        if path is None:
            return None
        if path not in self._vocabularies:
            try:
                self._vocabularies[path] = vocabulary.load(path)
            except vocabulary.VocabularyError as exc:
                raise ConfigError(f"{self.source}: keywords.vocabulary: {exc}") from None
        return self._vocabularies[path]

    def sidecars_for(self, folder: str | Path) -> SidecarSettings:
        """Given a watched folder, its `sidecars` section: the folder's own targets over it."""
        own = self._folder(folder)
        if own is None or own.targets is None:
            return self.settings.sidecars
        return self.settings.sidecars.model_copy(update={"targets": own.targets})

    def reviewed(self, folder: str | Path) -> bool:
        """Given a watched folder, whether its results wait for `apply` before any sidecar
        is written."""
        own = self._folder(folder)
        mode = own.apply if own is not None and own.apply is not None else None
        return (mode or self.settings.sidecars.apply) == "review"

    def folder_names(self) -> FolderNames:
        """Each folder's name in the job table, by its path here."""
        return FolderNames({str(f.path): f.table_name for f in self.settings.folders})

    def database_url(self, environ: Mapping[str, str] = os.environ) -> str:
        if self.settings.database.url:
            return self.settings.database.url
        return f"sqlite:///{state_directory(environ) / 'visionati-sync.db'}"

    def __repr__(self) -> str:  # never show the key
        return f"Config(source={self.source!r})"


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


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    """Relative paths in the file are relative to the file's own folder; ~ is expanded."""

    def resolve(path: Path) -> Path:
        path = Path(os.path.expandvars(str(path))).expanduser()
        return Path(os.path.realpath(base / path))  # real: `lib`, `lib/../lib`, a link to it

    def paths(section: Section | None, *names: str) -> Section | None:
        """A section with the paths it names (those set) resolved."""
        if section is None:
            return None
        update = {n: resolve(v) for n in names if (v := getattr(section, n)) is not None}
        return section.model_copy(update=update) if update else section

    def keywords(section: KeywordSettings | None) -> KeywordSettings | None:
        return paths(section, "vocabulary", "exclude_file")

    notify = settings.notify
    return settings.model_copy(
        update={
            "folders": [
                f.model_copy(update={"path": resolve(f.path), "keywords": keywords(f.keywords)})
                for f in settings.folders
            ],
            "api": paths(settings.api, "key_file"),
            "keywords": keywords(settings.keywords),
            "notify": notify.model_copy(
                update={
                    "webhook": paths(notify.webhook, "secret_file"),
                    "immich": paths(notify.immich, "key_file"),
                    "photoprism": paths(notify.photoprism, "token_file"),
                }
            ),
            "ui": paths(settings.ui, "password_file"),
        }
    )


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
    api = settings.api
    try:
        key = read_secret(Source(KEY_ENV, "api-key", api.key_file, api.key, "api.key_file"),
                          source, environ)  # fmt: skip
        secrets = {
            name: read_secret(where, source, environ)
            for name, where in notifier_sources(settings.notify).items()
        }
        secrets["ui"] = read_secret(ui_password_source(settings.ui.password_file), source, environ)
    except SecretError as exc:
        raise ConfigError(str(exc)) from None
    config = Config(settings, source, key, warnings, secrets)
    for place in [None, *(f.path for f in settings.folders)]:  # a vocabulary that cannot
        config.keyword_rules(place)  # be read: said now, not at the first write
    return config


def _place_folders(settings: Settings, source: str) -> tuple[Settings, list[str]]:
    """Given settings with real folder paths, watch each folder once (a folder named twice
    keeps its first entry), and tell each folder which configured folders lie inside it: a
    file is one job, its folder's, however the folders overlap."""
    kept: list[FolderSettings] = []
    warnings = []
    first: dict[Path, str] = {}
    named: dict[str, str] = {}
    for index, folder in enumerate(settings.folders):
        if folder.path not in first and folder.table_name in named:
            raise ConfigError(
                f"{source}: folders[{index}].name: {folder.table_name!r} names "
                f"{named[folder.table_name]} already; each folder needs a name of its own"
            )
        named.setdefault(folder.table_name, f"folders[{index}]")
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
