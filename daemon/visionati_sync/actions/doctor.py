"""`visionati-sync doctor`: everything a new user's first run depends on, checked in one go
and said one line each — ok, a warning (it works, but not as the user likely expects) or an
error (it will not work), with the fix. The exit status is the worst line's."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import requests
from sqlalchemy.engine import make_url

from ..api.answers import AccessDenied, ApiError
from ..api.client import ApiClient
from ..config import Config
from ..jobtable import engine as engines
from ..renditions.tools import PACKAGES
from ..rules.mounts import Mount, mount_of, network_mount, read_mounts
from ..rules.sandbox import Sandbox
from ..rules.targets import place, sees
from ..sidecars.atomic import folder_writable

Level = Literal["ok", "warning", "error"]
LEVELS: dict[Level, int] = {"ok": 0, "warning": 1, "error": 2}
UNITS = (Path("/etc/systemd/system/visionati-sync.service"),
         Path.home() / ".config/systemd/user/visionati-sync.service")  # fmt: skip
EXAMPLES = ("IMG_1.CR2", "IMG_1.jpg", "IMG_1.heic", "IMG_1.mov")  # a file of each kind


@dataclass(frozen=True)
class Finding:
    level: Level
    topic: str  # what was checked: "api", "folders[0]", "tool exiftool", "unit"
    message: str
    fix: str = ""


def worst(findings: Sequence[Finding]) -> int:
    """The exit status: 0 all ok, 1 a warning, 2 an error."""
    return max((LEVELS[f.level] for f in findings), default=0)


def check(
    config: Config,
    *,
    unit: Path | None = None,
    mounts: Sequence[Mount] | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> list[Finding]:
    """Given a loaded config (and the unit to check: None, the installed one if any), every
    finding, in the order a user fixes them."""
    mounts = read_mounts() if mounts is None else mounts
    found = [Finding("ok", "config", f"{config.source}: {len(config.settings.folders)} folders")]
    found += [Finding("warning", "config", warning) for warning in config.warnings]
    for part in (_key(config), _tools(config, which), _folders(config, mounts),
                 _database(config, mounts), _notifiers(config), _unit(config, unit)):  # fmt: skip
        found += list(part)
    return found


def _key(config: Config) -> Iterator[Finding]:
    api = config.settings.api
    if not config.api_key:
        yield Finding("error", "api", "no API key",
                      "set VISIONATI_API_KEY, api.key_file or api.key")  # fmt: skip
        return
    client = ApiClient(api.base_url, lambda: config.api_key or "",
                       connect_timeout=api.connect_timeout, read_timeout=api.timeout)  # fmt: skip
    try:
        client.check_key()
        credits = client.credits()
    except AccessDenied:
        yield Finding("error", "api", f"{api.base_url} refused the key",
                      "check the key in your Visionati account (API key page)")  # fmt: skip
        return
    except ApiError as exc:
        yield Finding("warning", "api", f"{api.base_url} did not answer as expected: {exc}",
                      "check api.base_url and the network; the daemon waits, retrying")  # fmt: skip
        return
    yield Finding("ok", "api", f"{api.base_url} accepts the key; {credits} credits left "
                  "(checked without spending any)")  # fmt: skip


def _embeds(config: Config) -> bool:
    """Whether any folder writes tags inside files (exiftool then is a must)."""
    return any(
        place(name, sidecars.targets, sidecars.xmp_naming, sidecars.embed).embed
        for sidecars in (config.sidecars_for(f.path) for f in config.settings.folders)
        for name in EXAMPLES
    )


def _tools(config: Config, which: Callable[[str], str | None]) -> Iterator[Finding]:
    embeds = _embeds(config)
    needs = {
        "exiftool": "RAW previews LibRaw cannot read, capture times"
        + (", and the tags written inside files" if embeds else ""),
        "ffmpeg": "videos' frames", "ffprobe": "videos' durations",
    }  # fmt: skip
    for tool, why in needs.items():
        path = which(tool)
        if path:
            yield Finding("ok", f"tool {tool}", path)
        else:
            level: Level = "error" if tool == "exiftool" and embeds else "warning"
            yield Finding(level, f"tool {tool}", f"not found; needed for {why}",
                          f"install the Debian package {PACKAGES[tool]}")  # fmt: skip


def _folders(config: Config, mounts: Sequence[Mount]) -> Iterator[Finding]:
    watch = config.settings.watch
    for folder in config.settings.folders:
        topic, path = folder.label, folder.path
        if not path.is_dir():
            yield Finding("error", topic, f"{path} does not exist (a share not mounted?)",
                          "create or mount it; the daemon watches it once it appears")  # fmt: skip
            continue
        if not os.access(path, os.R_OK | os.X_OK):
            yield Finding("error", topic, f"{path} cannot be read by this user",
                          "give this user read access (chmod, or the group)")  # fmt: skip
            continue
        if not folder_writable(path):
            yield Finding("error", topic, f"{path}: no sidecar can be written here by this "
                          "user (permissions, or a read-only file system)",
                          "make the folder writable for this user")  # fmt: skip
        where = mount_of(str(path), mounts)
        share = network_mount(str(path), mounts)
        mode = "polling" if watch.polling else watch.mode
        if share is not None and mode in ("auto", "inotify"):
            how = (f"inotify, and a scan every {watch.network_scan_interval:.0f} s: other "
                   "machines' writes are seen only by scans") if mode == "auto" else (
                   "inotify only: other machines' writes are never seen")  # fmt: skip
            level: Level = "ok" if mode == "auto" else "warning"
        else:
            how, level = {"auto": "inotify", "polling": "polling"}.get(mode, mode), "ok"
        fstype = f"{where.fstype} ({where.source})" if where else "unknown file system"
        yield Finding(level, topic, f"{path}: {fstype}; watched by {how}")
        yield Finding("ok", topic, "tags go to: " + _targets(config, path))


def _targets(config: Config, folder: Path) -> str:
    """Where each target finds the tags of a file of each kind, in words."""
    sidecars = config.sidecars_for(folder)
    if not sidecars.targets:
        naming = "IMG_1.jpg.xmp" if sidecars.xmp_naming == "append" else "IMG_1.xmp"
        inside = "; also inside the file" if sidecars.embed else ""
        advice = "name sidecars.targets to match your photo manager"
        return f"{naming} (sidecars.xmp_naming; {advice}){inside}"
    lines = []
    for target in sidecars.targets:
        kinds = ", ".join(f"{name.split('.')[1]} → {sees(target, name)}" for name in EXAMPLES)
        lines.append(f"{target}: {kinds}")
    return "; ".join(lines)


def _database(config: Config, mounts: Sequence[Mount]) -> Iterator[Finding]:
    url = config.database_url()
    shown = make_url(url).render_as_string(hide_password=True)
    database = engines.sqlite_file(url)
    if database is not None:
        try:
            engines.refuse_share(database, mounts)
        except OSError as exc:
            yield Finding("error", "database", exc.strerror or str(exc),
                          "set database.url to a local path or PostgreSQL")  # fmt: skip
            return
    if database is not None and not database.exists():
        yield Finding("ok", "database", f"{shown}: created at the first run or scan")
        return
    try:
        engine = engines.open_readonly(url)
        revision = engines.current_revision(engine)
        engine.dispose()
    except engines.SchemaMismatch as exc:
        yield Finding("warning", "database", f"{shown}: {exc}")
        return
    except Exception as exc:  # every failure is the finding
        known = engines.trouble(exc, url)
        yield Finding("error", "database", f"{shown}: {known.message if known else exc}")
        return
    state = f"at revision {revision}" if revision else "created at the first run or scan"
    yield Finding("ok", "database", f"{shown}: {state}")


def _notifiers(config: Config) -> Iterator[Finding]:
    notify = config.settings.notify
    if notify.command is not None:
        program = notify.command.run[0]
        found = shutil.which(program)
        yield (Finding("ok", "notify.command", found) if found else
               Finding("error", "notify.command", f"{program}: no such program",
                       "give notify.command.run an executable's path"))  # fmt: skip
    checks = {
        "immich": (notify.immich, "/api/server/ping"),
        "photoprism": (notify.photoprism, "/api/v1/status"),
        "webhook": (notify.webhook, None),
    }
    for name, (section, path) in checks.items():
        if section is None:
            continue
        url = section.url
        try:
            if path is None:  # a webhook is told nothing here: can it be reached at all?
                parts = urlsplit(url)
                port = parts.port or (443 if parts.scheme == "https" else 80)
                socket.create_connection((parts.hostname or "", port), timeout=5).close()
            else:
                requests.get(url + path, timeout=5).raise_for_status()
        except (OSError, requests.RequestException) as exc:
            yield Finding("warning", f"notify.{name}", f"{url} cannot be reached: {_reason(exc)}",
                          "check the address; notices wait and are retried meanwhile")  # fmt: skip
            continue
        if name != "webhook" and not config.secret(name):
            yield Finding("error", f"notify.{name}", f"{url} answers, but no key or token is set")
            continue
        yield Finding("ok", f"notify.{name}", f"{url} answers")


def _unit(config: Config, unit: Path | None) -> Iterator[Finding]:
    paths = [unit] if unit is not None else [p for p in UNITS if p.exists()]
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            yield Finding("error", "unit", f"{path}: cannot read: {exc.strerror}")
            continue
        sandbox = Sandbox.parse(text)
        if sandbox.config and os.path.realpath(sandbox.config) != os.path.realpath(config.source):
            yield Finding("warning", "unit", f"{path}: runs with the config {sandbox.config}, "
                          f"not {config.source}")  # fmt: skip
        problems = list(sandbox_problems(sandbox, config))
        for problem in problems:
            yield Finding("error", "unit", f"{path}: {problem}",
                          "move it where the service sees it, then install-service")  # fmt: skip
        if not problems:
            yield Finding("ok", "unit", f"{path}: sees its program, config and folders")


def sandbox_problems(sandbox: Sandbox, config: Config) -> Iterator[str]:
    """Given a unit's sandbox and the config it runs, each thing the service would need
    and not see: its program (and the interpreter a script names), its config, the key
    file, each folder (written in)."""
    needed: list[tuple[str, str | None, bool]] = [
        ("its program", sandbox.program, False),
        ("the program's interpreter", _interpreter(sandbox.program), False),
        ("its config", sandbox.config or config.source, False),
        ("api.key_file", str(config.settings.api.key_file or "") or None, False),
    ]
    needed += [(f"{f.label}.path", str(f.path), True) for f in config.settings.folders]
    for what, path, write in needed:
        if path is None:
            continue
        reason = sandbox.hides(os.path.abspath(path), write=write)
        if reason:
            yield f"the service cannot {'write in' if write else 'see'} {what} {path}: {reason}"


def _interpreter(program: str | None) -> str | None:
    """The interpreter a script's first line names (a virtual environment's python)."""
    if not program:
        return None
    try:
        with open(program, "rb") as handle:
            first = handle.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    return words[0] if words and words[0] != "/usr/bin/env" else None


def _reason(exc: BaseException) -> str:
    """The system's reason under a library's wrapping (``Connection refused``)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__
