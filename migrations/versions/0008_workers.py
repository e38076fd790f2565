"""workers by identity: a heartbeat lease per process start

Claims named their worker ``host:pid``, and a worker was alive if that pid ran on that host:
a container restarted as PID 1 under the same host name looked alive to its successor, and
two machines cloned with one host name released each other's live claims. Each process start
now draws a random id; ``workers`` holds its heartbeat lease (the database's clock), with
host and pid for people. The heartbeats kept until now in ``daemon_state`` (``daemon:…``)
are dropped: the daemons write theirs here at their next start.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("heard_at", sa.DateTime(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    op.execute("DELETE FROM daemon_state WHERE key LIKE 'daemon:%'")


def downgrade() -> None:
    op.drop_table("workers")
