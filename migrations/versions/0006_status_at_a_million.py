"""indexes that keep `status` quick however many files the table holds

`status` shows the oldest pending file and the latest errors. Without an index both read
every row: a tenth of a second each at a million files. ``(state, created_at)`` finds the
oldest file of a state at once; the latest errors come from an index of only the rows that
have one.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HAS_ERROR = sa.text("error IS NOT NULL")


def upgrade() -> None:
    op.create_index("ix_jobs_state_created_at", "jobs", ["state", "created_at"])
    op.create_index(
        "ix_jobs_errors_updated_at", "jobs", ["updated_at"],
        sqlite_where=HAS_ERROR, postgresql_where=HAS_ERROR,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_jobs_errors_updated_at", table_name="jobs")
    op.drop_index("ix_jobs_state_created_at", table_name="jobs")
