"""Alembic environment: run by the daemon with a live connection, or by `alembic` for
developers writing a new revision (``alembic -x url=sqlite:///dev.db revision --autogenerate``).

It never calls logging.config.fileConfig: the daemon's logging must stay as it is.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from visionati_sync.jobtable.schema import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite can only ALTER TABLE a little
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("give the database: alembic -x url=sqlite:///path.db …")
    with create_engine(url).begin() as conn:
        _run(conn)
