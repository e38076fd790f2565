"""a ledger: which folders each request's credits went to

Every request already records what it cost (``credits_paid``, or the price table's
``credits_estimated`` until it completes), when and under which options; ``folders_json``
adds which folders its files came from (folder name → files), for `costs --by folder`.
Requests from before have none: they are counted as "(not recorded)".

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("folders_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_requests", schema=None) as batch_op:
        batch_op.drop_column("folders_json")
