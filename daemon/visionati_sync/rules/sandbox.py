"""What a systemd unit's sandbox lets the daemon see: a pure reading of the unit's text.

The shipped unit hides the home folders (``ProtectHome=yes``: /home, /root and /run/user are
empty), gives the service a /tmp and /var/tmp of its own (``PrivateTmp=yes``) and makes the
whole file system read-only but for ``ReadWritePaths=`` (``ProtectSystem=strict``), as
systemd.exec(5) describes. A program, a config or a photo folder in one of those places is
invisible or read-only to the service even though it is there for the user who installed
it: `install-service` and `doctor` say so before systemd fails with a bare "No such file".
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import PurePosixPath

HOMES = ("/home", "/root", "/run/user")
TEMPORARY = ("/tmp", "/var/tmp")  # noqa: S108 (names, not used)
SYSTEM = {"yes": ("/usr", "/boot", "/efi"), "full": ("/usr", "/boot", "/efi", "/etc")}


def _under(path: str, places: tuple[str, ...] | list[str]) -> str | None:
    """The place (a folder) that holds ``path``, if one does."""
    pure = PurePosixPath(path)
    for place in places:
        if pure == PurePosixPath(place) or PurePosixPath(place) in pure.parents:
            return place
    return None


@dataclass(frozen=True)
class Sandbox:
    program: str | None = None  # ExecStart='s program
    config: str | None = None  # its --config, if it names one
    protect_home: str = "no"  # yes, read-only, tmpfs, no
    private_tmp: bool = False
    protect_system: str = "no"  # strict, full, yes, no
    writable: list[str] = field(default_factory=list)  # ReadWritePaths=
    bound: list[str] = field(default_factory=list)  # BindPaths=: seen, and writable
    bound_read_only: list[str] = field(default_factory=list)  # BindReadOnlyPaths=: seen

    @classmethod
    def parse(cls, unit: str) -> Sandbox:
        """Given a unit file's text, the settings that decide what its service sees (a later
        line of a setting overrides, as in systemd; path lists add up)."""
        values: dict[str, str] = {}
        lists: dict[str, list[str]] = {"ReadWritePaths": [], "BindPaths": [],
                                       "BindReadOnlyPaths": []}  # fmt: skip
        for raw in unit.splitlines():
            line = raw.strip()
            if not line or line.startswith(("#", ";", "[")) or "=" not in line:
                continue
            key, _, value = (part.strip() for part in line.partition("="))
            if key in lists:
                words = shlex.split(value) if value else []
                lists[key] = [] if not words else lists[key] + [w.lstrip("-+:") for w in words]
            else:
                values[key] = value
        program, config = None, None
        if values.get("ExecStart"):
            words = shlex.split(values["ExecStart"].lstrip("@-:+!"))
            program = words[0] if words else None
            for flag in ("--config", "-c"):
                if flag in words[:-1]:
                    config = words[words.index(flag) + 1]
        bound = [b.split(":")[-1] for b in lists["BindPaths"]]  # SOURCE:DEST: the service's
        return cls(
            program=program, config=config,
            protect_home=_switch(values.get("ProtectHome", "no")),
            private_tmp=_switch(values.get("PrivateTmp", "no")) == "yes",
            protect_system=_switch(values.get("ProtectSystem", "no")),
            writable=lists["ReadWritePaths"] + bound,
            bound=bound,
            bound_read_only=[b.split(":")[-1] for b in lists["BindReadOnlyPaths"]],
        )  # fmt: skip

    def hides(self, path: str, *, write: bool = False) -> str | None:
        """Given a path the service needs (to read, or ``write`` in), why the sandbox keeps
        it from the service, in words naming the setting; None when it does not."""
        bound = _under(path, self.bound + ([] if write else self.bound_read_only))
        home = _under(path, HOMES)
        if home and self.protect_home in ("yes", "tmpfs") and not bound:
            return f"ProtectHome={self.protect_home} hides {home}"
        temporary = _under(path, TEMPORARY)
        if temporary and self.private_tmp and not bound:
            return f"PrivateTmp=yes gives the service a {temporary} of its own"
        if not write or _under(path, self.writable):
            return None
        if home and self.protect_home == "read-only":
            return f"ProtectHome=read-only makes {home} read-only (add it to ReadWritePaths=)"
        if self.protect_system == "strict":
            return "ProtectSystem=strict makes it read-only (add it to ReadWritePaths=)"
        if _under(path, SYSTEM.get(self.protect_system, ())):
            return f"ProtectSystem={self.protect_system} makes it read-only"
        return None


def _switch(value: str) -> str:
    """systemd's booleans as words: 1, yes, true and on are "yes"; 0, no, false, off "no";
    anything else (strict, read-only, tmpfs…) as written."""
    lowered = value.strip().lower()
    if lowered in ("1", "yes", "true", "on"):
        return "yes"
    if lowered in ("0", "no", "false", "off", ""):
        return "no"
    return lowered
