"""What `visionati-sync install-service` writes: the shipped unit made this installation's
(its program, its config, its photo folders in ReadWritePaths=), where it goes, and what is
left for the user to run. Pure: the command does the writing."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath

SYSTEM_UNIT = "visionati-sync.service"
USER_UNIT = "visionati-sync-user.service"
SERVICE_USER = "visionati-sync"


@dataclass(frozen=True)
class Plan:
    unit_path: Path
    unit: str
    service_user: str | None  # the system user to create, if missing (system units)
    next_steps: list[str] = field(default_factory=list)


def shipped(user: bool) -> str:
    """The unit as shipped (systemd/ in the repository, visionati_sync.units installed)."""
    return (
        resources.files("visionati_sync.units") / (USER_UNIT if user else SYSTEM_UNIT)
    ).read_text()


HEADER = """\
# visionati-sync, written by `visionati-sync install-service` for this installation: its
# program and config (ExecStart=) and its photo folders (ReadWritePaths=). Run
# install-service again after moving any of them; `visionati-sync doctor` checks the unit.
# Where the API key goes: README "As a service"."""


def render(text: str, *, program: str, config: Path, folders: list[Path]) -> str:
    """Given a shipped unit, this installation's: its program and config in ExecStart=, its
    folders (the only places it may write, beside its state) in ReadWritePaths=; the
    shipped header's copy-by-hand steps give way to a header saying what was done."""
    body = text.splitlines()
    while body and (body[0].startswith("#") or not body[0].strip()):
        body.pop(0)  # the shipped header: how to install the unit by hand
    lines = [*HEADER.splitlines(), ""]
    for line in body:
        if line.startswith("ExecStart="):
            line = f"ExecStart={program} --config {_quoted(str(config))} run"
        elif line.startswith("ReadWritePaths="):
            line = "ReadWritePaths=" + " ".join(_quoted(str(f)) for f in folders)
        elif line.startswith("ProtectHome=") and any(_in_home(f) for f in folders):
            line = "ProtectHome=read-only"  # the folders under /home are writable all the same
        lines.append(line)
    return "\n".join(lines) + "\n"


def plan(
    *, user: bool, program: str, config: Path, folders: list[Path], root: Path, home: Path
) -> Plan:
    """Given where the program and the config are, the folders, and whether for a user's
    own service manager, what to write where (under ``root``: ``/`` but for packaging)."""
    text = render(shipped(user), program=program, config=config, folders=folders)
    if user:
        target = home / ".config" / "systemd" / "user" / SYSTEM_UNIT
        steps = ["systemctl --user daemon-reload",
                 "systemctl --user enable --now visionati-sync",
                 "loginctl enable-linger $USER   # to run while logged out"]  # fmt: skip
        return Plan(_under(root, target), text, None, steps)
    steps = [
        "put the API key in /etc/visionati-sync/api-key (mode 0600), or see README "
        "'As a service' for systemd-creds",
        "systemctl daemon-reload",
        "systemctl enable --now visionati-sync",
    ]
    target = Path("/etc/systemd/system") / SYSTEM_UNIT
    return Plan(_under(root, target), text, SERVICE_USER, steps)


def _under(root: Path, path: Path) -> Path:
    return root / path.relative_to(path.anchor)


def _quoted(path: str) -> str:
    return f'"{path}"' if any(c.isspace() for c in path) else path


def _in_home(folder: Path) -> bool:
    parts = PurePosixPath(folder).parts
    return len(parts) > 1 and parts[1] in ("home", "root")
