"""The command line's own promises: version, database upgrade, where the config comes from,
and the emulator as a command a new user runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests

from support import KEY, base_config, clean_env, cli, head_revision, write_config
from visionati_sync import __version__
from visionati_sync.devtools.emulator import Emulator


def test_version() -> None:
    result = cli(None, "--version")
    assert (
        result.returncode == 0 and result.stdout.strip() == f"visionati-sync, version {__version__}"
    )


def test_db_upgrade_creates_the_schema(tmp_path: Path, emulator: Emulator) -> None:
    config = write_config(tmp_path / "config.yaml", base_config(emulator.url, tmp_path, []))
    result = cli(config, "db", "upgrade", env=clean_env(tmp_path))
    assert result.returncode == 0
    assert result.stdout.strip() == f"database at revision {head_revision()}"
    assert (tmp_path / "state.db").exists()


def test_the_config_comes_from_the_environment_when_not_given(
    tmp_path: Path, emulator: Emulator
) -> None:
    config = write_config(tmp_path / "elsewhere.yaml", base_config(emulator.url, tmp_path, []))
    env = clean_env(tmp_path, VISIONATI_SYNC_CONFIG=str(config))
    assert cli(None, "status", "--json", env=env).returncode == 0
    missing = cli(None, "status", env=clean_env(tmp_path, VISIONATI_SYNC_CONFIG="/nowhere.yaml"))
    assert missing.returncode == 2 and "/nowhere.yaml: file not found" in missing.stderr


def test_the_emulator_command_serves_the_api(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "visionati_sync", "emulator", "--port", "0", "--credits", "42"],
        stdout=subprocess.PIPE, text=True, env=clean_env(tmp_path),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("visionati-sync emulator listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[-1]
        answer = requests.get(
            f"{url}/api/credits", headers={"X-API-Key": f"Token {KEY}"}, timeout=10
        )
        assert answer.json() == {"credits": 42}
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_database_url_that_cannot_be_opened_is_a_clear_error(tmp_path: Path) -> None:
    for url, reason in (
        ("notaurl", "Could not parse SQLAlchemy URL"),
        (f"sqlite:///{tmp_path}/missing-folder/is-a-file/x.db", "Not a directory"),
    ):
        (tmp_path / "missing-folder").mkdir(exist_ok=True)
        (tmp_path / "missing-folder" / "is-a-file").write_text("not a folder")
        config = write_config(tmp_path / "config.yaml", {"database": {"url": url}})
        for command in (["status"], ["retry", "--all"]):  # to read, and to write
            result = cli(config, *command, env=clean_env(tmp_path))
            assert result.returncode == 2
            assert f"{config}: database.url: cannot open: {reason}" in result.stderr
            assert "Traceback" not in result.stderr
