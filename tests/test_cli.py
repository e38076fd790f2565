"""The command line's own promises: version, database upgrade, where the config comes from,
and the emulator as a command a new user runs."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
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
        assert process.stdout.readline().strip() == f"accepted key(s): {KEY}; credits: 42"
        said = [process.stdout.readline().strip() for _ in range(3)]
        assert said[1:] == [f"api: {{base_url: {url}}}", f"and the key in the environment: "
                            f"VISIONATI_API_KEY={KEY}"]  # fmt: skip
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


def test_reading_commands_never_create_a_job_table(tmp_path: Path, emulator: Emulator) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(b"\xff\xd8\xff")
    config = write_config(tmp_path / "config.yaml", base_config(emulator.url, tmp_path, [photos]))
    for command in (["status", "--json"], ["jobs", "--json"], ["estimate", "--json"]):
        result = cli(config, *command, env=clean_env(tmp_path))
        assert result.returncode == 0, result.stderr
    assert "pending: 0" in cli(config, "status", env=clean_env(tmp_path)).stdout
    assert not (tmp_path / "state.db").exists()  # nothing made, nothing migrated


def test_reading_commands_wait_for_no_writer(tmp_path: Path, emulator: Emulator) -> None:
    (tmp_path / "photos").mkdir()
    folders = [tmp_path / "photos"]
    config = write_config(tmp_path / "config.yaml", base_config(emulator.url, tmp_path, folders))
    assert cli(config, "db", "upgrade", env=clean_env(tmp_path)).returncode == 0
    writer = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a daemon in the middle of a write transaction
    try:
        for command in (["status", "--json"], ["jobs"], ["estimate"]):
            started = time.monotonic()
            result = cli(config, *command, env=clean_env(tmp_path), timeout=25)
            assert result.returncode == 0, result.stderr
            assert time.monotonic() - started < 10  # the busy timeout is 30 s
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_reading_commands_never_migrate_a_table_of_another_version(
    tmp_path: Path, emulator: Emulator
) -> None:
    config = write_config(tmp_path / "config.yaml", base_config(emulator.url, tmp_path, []))
    assert cli(config, "db", "upgrade", env=clean_env(tmp_path)).returncode == 0
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '0000'")  # an older daemon's
    result = cli(config, "status", env=clean_env(tmp_path))
    assert result.returncode == 2
    assert "the job table is at revision 0000" in result.stderr
    assert "run `visionati-sync db upgrade`" in result.stderr
    with sqlite3.connect(tmp_path / "state.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() == ("0000",)
