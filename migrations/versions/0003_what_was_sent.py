"""what was sent for each file: its own hash apart from the content key, and the upload

Other formats than the API takes (HEIC, TIFF, RAW, large videos) are converted before they
go, so the key a result is stored and looked up under (``jobs.sha256``, ``results.sha256``)
is the file's hash together with how it was converted; ``file_sha256`` keeps the file's own
hash (the JSON sidecar's ``sha256``, and what a later check of the file compares), and
``sent_json`` what went: original or converted, format, size in pixels and bytes; a
video sent as frames goes by several names, so ``upload_name`` becomes text. Rows
from before stay as they were: their key is their file's hash.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("file_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("sent_json", sa.Text(), nullable=True))
        batch_op.alter_column(  # a video's frames go by one name each, a line apiece
            "upload_name", existing_type=sa.String(length=1024), type_=sa.Text(),
            existing_nullable=True,
        )  # fmt: skip


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.alter_column(
            "upload_name", existing_type=sa.Text(), type_=sa.String(length=1024),
            existing_nullable=True,
        )  # fmt: skip
        batch_op.drop_column("sent_json")
        batch_op.drop_column("file_sha256")
