"""Copying a job table into another database: how a one-machine SQLite table becomes a
fleet's PostgreSQL one (`visionati-sync db copy --to URL`), with every result, request and
file it knows, so nothing is paid for twice.

The daemon state (heartbeats, pauses) is not copied: it belongs to the processes of the old
table. Claims copied from a stopped daemon lapse at once and are taken back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, insert, select, text

from .schema import ApiRequest, Job, Result

CHUNK = 1000  # rows read and written at a time: memory stays flat for millions of files
TABLES: tuple[Table, ...] = (ApiRequest.__table__, Result.__table__, Job.__table__)


class CopyRefused(Exception):
    """The target cannot take the copy (it holds a job table already); the message says
    why."""


def copy_table(source: Engine, target: Engine, names: Mapping[str, str]) -> dict[str, int]:
    """Given a job table and an empty one at the same revision, copy every row into the
    target in one transaction, a folder's path turned into its name where ``names`` gives
    one. Returns rows copied per table."""
    copied: dict[str, int] = {}
    with source.connect() as reading, target.begin() as writing:
        for table in TABLES:
            if writing.execute(select(func.count()).select_from(table)).scalar_one():
                raise CopyRefused(
                    f"the target already holds a job table ({table.name} has rows); copy "
                    "into a new, empty database"
                )
        for table in TABLES:
            copied[table.name] = 0
            for rows in _chunks(reading, table):
                if table.name == Job.__tablename__:
                    rows = [
                        row | {"folder": names.get(row["folder"], row["folder"])} for row in rows
                    ]
                writing.execute(insert(table), rows)
                copied[table.name] += len(rows)
        _follow_ids(writing)
    return copied


def _chunks(conn: Connection, table: Table) -> Iterator[list[dict[str, Any]]]:
    key = next(iter(table.primary_key.columns))
    last: Any = None
    while True:
        query = select(table).order_by(key).limit(CHUNK)
        if last is not None:
            query = query.where(key > last)
        rows = [dict(row._mapping) for row in conn.execute(query)]
        if not rows:
            return
        last = rows[-1][key.name]
        yield rows


def _follow_ids(conn: Connection) -> None:
    """PostgreSQL's id sequences go on after the copied ids (SQLite's follow by
    themselves): a new file never takes an old file's id."""
    if conn.dialect.name != "postgresql":
        return
    for table in (Job.__tablename__, Result.__tablename__):
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
        )
