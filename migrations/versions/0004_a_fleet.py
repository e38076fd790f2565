"""a fleet of daemons on one job table: who sent a request, who is polling it

Several daemons may share one (PostgreSQL) job table. Each counts only the requests it sent
against its own in-flight cap (``sent_by``), and a request is polled by one daemon at a time
(``polled_by``), which holds it until its ``next_poll_at``: a lease, taken back by any daemon
once it lapses. Requests from before were sent by a daemon that is gone: they are anyone's.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sent_by", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("polled_by", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_requests", schema=None) as batch_op:
        batch_op.drop_column("polled_by")
        batch_op.drop_column("sent_by")
