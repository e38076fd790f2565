"""What each command loads before it does anything: a command that reads the job table never
imports the daemon's heavy parts, and `--help` of any verb imports neither the database layer
nor the config's validation. Read from `python -X importtime`, so a new import at the top of
a module shows up here, with the command that pays for it. And the warm helper that lets a
quick command skip that loading: the same answers, from a process that loaded nothing."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from media import jpeg
from support import Library, cli, drop_privileges, wait_until
from visionati_sync.cli import address

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


def test_a_warm_helper_answers_quick_commands_exactly_as_they_answer_alone(
    library: Library,
) -> None:
    jpeg(library.photos / "a.jpg", 320, 240)
    assert library.cli("scan").returncode == 0
    alone = library.env | {"VISIONATI_SYNC_HELPER": "off"}
    helped = library.env | {"VISIONATI_SYNC_HELPER": "on", "VISIONATI_SYNC_HELPER_IDLE": "4"}
    state = str(Path(helped["XDG_STATE_HOME"]) / "visionati-sync")
    first = cli(library.config, "status", env=helped)  # runs here, and starts a helper
    assert first.returncode == 0
    wait_until(lambda: answering(state), 30, 0.1, "the helper")
    for command in (["status", "--json"], ["jobs", "--json"], ["costs", "--json"]):
        served = cli(library.config, *command, env=helped)
        assert served.returncode == 0, served.stderr
        assert served.stdout == cli(library.config, *command, env=alone).stdout
    # served by the helper: this process loaded neither SQLAlchemy nor the config's models
    loaded = imported("-c", str(library.config), "status", env=helped)
    assert loaded & {"sqlalchemy", "pydantic", "click", "yaml"} == set()
    refused = cli(library.config, "jobs", "--state", "nope", env=helped)
    assert refused.returncode == 2 and "'nope' is not one of" in refused.stderr
    # another user's command is not run (the kernel names the caller's user)
    if drop_privileges():
        stranger = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable,
             "-c", ASK, "@" + address(state)[1:]],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert stranger.stdout.strip() == "no answer", stranger.stderr
    # idle for VISIONATI_SYNC_HELPER_IDLE seconds: it ends
    wait_until(lambda: not helpers(state), 30, 0.1, "the idle helper to end")
    assert not answering(state)


def test_a_helper_of_other_code_steps_aside(library: Library) -> None:
    helped = library.env | {"VISIONATI_SYNC_HELPER": "on", "VISIONATI_SYNC_HELPER_IDLE": "30"}
    assert library.cli("db", "upgrade").returncode == 0
    state = str(Path(helped["XDG_STATE_HOME"]) / "visionati-sync")
    assert cli(library.config, "status", env=helped).returncode == 0
    wait_until(lambda: answering(state), 30, 0.1, "the helper")
    message = json.dumps({"argv": ["status"], "cwd": "/", "env": {}, "stamp": 1}).encode()
    with socket.socket(socket.AF_UNIX) as connection:  # as an older (or newer) entry point
        connection.connect(address(state))
        socket.send_fds(connection, [struct.pack("!I", len(message)) + message], [0, 1, 2])
        assert struct.unpack("!i", connection.recv(4)) == (254,)  # "run it yourself"
    wait_until(lambda: not helpers(state), 15, 0.1, "the out-of-date helper to end")


# a caller's first words: a command for the helper at argv[1]; prints what came back
ASK = """
import json, socket, struct, sys
message = json.dumps({"argv": ["status"], "cwd": "/", "env": {}, "stamp": 0}).encode()
with socket.socket(socket.AF_UNIX) as s:
    s.settimeout(10)
    s.connect("\\0" + sys.argv[1][1:])  # @name: the abstract socket name
    try:
        socket.send_fds(s, [struct.pack("!I", len(message)) + message], [0, 1, 2])
        print(s.recv(4).hex() or "no answer")
    except ConnectionError:  # closed on it: refused
        print("no answer")
"""


def answering(state: str) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(address(state))
        except OSError:
            return False
        return True


def helpers(state: str) -> list[int]:
    """The helper processes of that state directory."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"visionati_sync.commands.helper" in words and state.encode() in words:
            found.append(int(cmdline.parent.name))
    return found


def test_the_daemon_loads_no_traceback_highlighter() -> None:
    """structlog loads rich's traceback renderer and Pygments when rich is installed (7 MB
    of an idle daemon, 30 ms of every command) for output this program never asks of it."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys, visionati_sync.service.scan, visionati_sync.log; "
         "print(sorted({m.split('.')[0] for m in sys.modules} & {'rich', 'pygments'}))"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert done.stdout.strip() == "[]"


COLLECTING = """
import gc, sys
from visionati_sync import cli
sys.argv = ["visionati-sync", *sys.argv[1:]]
try:
    cli.main()
except SystemExit:
    pass
print(gc.isenabled())
"""


@pytest.mark.parametrize(("command", "collects"), [
    (["scan", "--yes"], True), (["status"], True), (["--version"], False),
])  # fmt: skip
def test_a_command_collects_garbage_once_it_has_loaded_what_it_runs_on(
    library: Library, command: list[str], collects: bool
) -> None:
    """Start-up runs without the garbage collector (a tenth of it went to sweeping what was
    being imported); whatever then runs for long, a scan or the daemon, has it back."""
    jpeg(library.photos / "a.jpg", 320, 240)
    args = command if command[0].startswith("-") else ["-c", str(library.config), *command]
    done = subprocess.run([sys.executable, "-c", COLLECTING, *args], capture_output=True,
                          text=True, env=library.env, timeout=60, check=False)  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == str(collects), done.stderr[-2000:]
