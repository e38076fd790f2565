"""what the user asked of a job: a result approved for writing, a fresh answer from the API

Two new states need no schema (``review``: a stored result waits for `apply`; ``untagged``:
the user took our tags back, and a rescan leaves the file alone). Two facts about a job do:
``approved`` (the user applied its result: the writer writes it even in a folder reviewed
before writing) and ``refresh`` (asked to be tagged again by the API, past the results
cache). Rows from before are neither.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("approved", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("refresh", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("refresh")
        batch_op.drop_column("approved")
