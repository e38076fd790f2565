"""What each command loads before it does anything: a command that reads the job table never
imports the daemon's heavy parts, and `--help` of any verb imports neither the database layer
nor the config's validation. Read from `python -X importtime`, so a new import at the top of
a module shows up here, with the command that pays for it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from support import Library

# what no command that only reads may load: image decoders, the pipeline's HTTP, the
# watcher, XMP, the web stack, migrations, the progress display, the metrics exporter
HEAVY = {
    "alembic", "PIL", "pyvips", "rawpy", "pillow_heif", "pillow_jxl", "rich", "requests",
    "watchdog", "lxml", "starlette", "uvicorn", "jinja2", "prometheus_client", "structlog",
}  # fmt: skip
FOR_HELP = HEAVY | {"sqlalchemy", "pydantic", "yaml"}  # --help reads nothing at all
VERBS = [
    "run", "scan", "estimate", "status", "costs", "jobs", "retry", "preview", "apply", "untag",
    "install-service", "doctor", "ui", "emulator", "db",
]  # fmt: skip


def imported(*args: str, env: dict[str, str] | None = None) -> set[str]:
    """The top-level packages a command imports, by importtime's own account."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "visionati_sync", *args],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


@pytest.mark.parametrize("command", [["status"], ["jobs"], ["costs"], ["status", "--json"]])
def test_a_read_command_loads_no_heavy_part(library: Library, command: list[str]) -> None:
    assert library.cli("db", "upgrade").returncode == 0
    loaded = imported("-c", str(library.config), *command, env=library.env)
    assert "sqlalchemy" in loaded  # (the check sees what it should)
    assert loaded & HEAVY == set()


@pytest.mark.parametrize("verb", VERBS)
def test_help_of_every_verb_loads_nothing_heavy(verb: str) -> None:
    loaded = imported(verb, "--help")
    assert "click" in loaded
    assert loaded & FOR_HELP == set()
