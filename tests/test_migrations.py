"""Migrations are the only way the schema is made, they match the models, and they work
from an installed wheel, not only from a checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from support import head_revision
from visionati_sync.jobtable import JobTable
from visionati_sync.jobtable import engine as db
from visionati_sync.jobtable.schema import Base

ROOT = Path(__file__).resolve().parents[1]


def test_upgrade_creates_the_schema_and_is_repeatable(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    db.upgrade(engine)
    db.upgrade(engine)
    assert db.current_revision(engine) == head_revision()
    assert {"jobs", "api_requests", "results", "daemon_state"} <= set(
        inspect(engine).get_table_names()
    )
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_the_head_constant_is_the_head_of_the_migrations() -> None:
    from visionati_sync import migrations  # type: ignore[attr-defined]

    assert head_revision() == migrations.HEAD


def test_migrations_head_matches_the_models(empty_db_url: str) -> None:
    engine = db.make_engine(empty_db_url)
    db.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_daemons_starting_together_on_an_empty_database_migrate_it_once(
    empty_db_url: str,
) -> None:
    opened: list[str | None] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def daemon() -> None:
        try:
            start.wait()
            table = JobTable.open(empty_db_url)
            opened.append(db.current_revision(table.engine))
            table.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=daemon) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert opened == [head_revision()] * 3


def test_upgrade_works_from_an_installed_wheel(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("visionati_sync-*.whl")
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    database = tmp_path / "from-wheel.db"
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import visionati_sync, visionati_sync.jobtable.engine as d;"
        "assert visionati_sync.__file__.startswith(sys.argv[1]), visionati_sync.__file__;"
        "assert d.migrations_directory().startswith(sys.argv[1]);"
        "e = d.make_engine('sqlite:///' + sys.argv[2]); d.upgrade(e);"
        "print(d.current_revision(e))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(target), str(database)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == head_revision()


def test_a_table_of_the_first_version_keeps_its_files_as_bytes(tmp_path: Path) -> None:
    """0002 stores paths as bytes: a library tagged before it is not tagged again after."""
    from alembic import command
    from sqlalchemy import text

    from visionati_sync.jobtable import JobTable
    from visionati_sync.records import FileSeen

    engine = db.make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    config = db._alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(
            text(
                "INSERT INTO jobs (folder, relpath, state, size, mtime_ns, attempts,"
                " next_attempt_at, created_at, updated_at) VALUES ('/photos', :relpath, 'done',"
                " 10, 20, 1, '2026-11-26', '2026-11-26', '2026-11-26')"
            ),
            [{"relpath": "2024/café.jpg"}, {"relpath": "日本の写真.jpg"}],
        )
    db.upgrade(engine)
    queue = JobTable(engine).queue
    known = [FileSeen("2024/café.jpg", 10, 20)]
    assert queue.changed("/photos", "2024", known) == []  # the same file: not new
    assert queue.enqueue("/photos", [FileSeen("日本の写真.jpg", 10, 20)])["unchanged"] == 1
    odd = os.fsdecode(b"caf\xe9.jpg")  # and a name that is not UTF-8 now fits
    assert queue.enqueue("/photos", [FileSeen(odd, 1, 1)])["new"] == 1
    assert queue.changed("/photos", "", [FileSeen(odd, 1, 1)]) == []


def test_results_stored_before_renditions_still_serve_the_same_bytes(tmp_path: Path) -> None:
    """0003 keeps the file's own hash apart from the content key: a photo that goes as it is
    is keyed by its hash alone, so a result paid for before is found by the same key after,
    and a done job written before (no file_sha256) still has its hash for the JSON sidecar."""
    from alembic import command
    from sqlalchemy import text

    from visionati_sync.api.options import RequestOptions
    from visionati_sync.jobtable import JobTable

    options = RequestOptions(("tags",), ("clarifai",), "general", "English", None, 0.9)
    engine = db.make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    config = db._alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
        conn.execute(
            text(
                "INSERT INTO results (sha256, options_fp, request_id, tagged_at, options_json,"
                " asset_json) VALUES ('ab12', :fp, 'r1', '2026-11-26', '{}', '{\"tags\": {}}')"
            ),
            {"fp": options.fingerprint()},
        )
        conn.execute(
            text(
                "INSERT INTO jobs (folder, relpath, state, size, mtime_ns, sha256, result_id,"
                " upload_name, attempts, next_attempt_at, created_at, updated_at) VALUES"
                " (:folder, :relpath, 'writing', 10, 20, 'ab12', 1, 'IMG_1.jpg', 1,"
                " '2026-11-26', '2026-11-26', '2026-11-26')"
            ),
            {"folder": b"/photos", "relpath": b"IMG_1.jpg"},
        )
    db.upgrade(engine)
    table = JobTable(engine)
    assert table.results.cached(["ab12"], options) == {"ab12": 1}
    (task,) = table.writes.tasks()
    assert (task.sha256, task.sent) == ("ab12", None)
