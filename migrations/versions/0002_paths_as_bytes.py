"""paths as bytes; jobs looked up by content; sidecar writes retried; faults and batches

A file's folder and path are stored as the bytes the filesystem holds, so a name that is not
UTF-8 (Latin-1 from an old share, a ZIP import) is kept exactly instead of failing to store.
Existing rows were all UTF-8 text and become those bytes. An index on sha256 finds the
jobs whose bytes are already in a request in flight. write_attempts counts the tries to
write a paid result's sidecars that the disk or the folder refused, for their backoff.
faults counts the server faults a file's uploads met in a row (not its fault, unless they
never stop); batch_limit is the largest request a file may go in since a batch holding it
failed (bisection finds the one file the API cannot process).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PATHS = ("folder", "relpath")


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        for column in PATHS:
            batch_op.alter_column(
                column,
                existing_type=sa.String(length=4096),
                type_=sa.LargeBinary(),
                existing_nullable=False,
                postgresql_using=f"convert_to({column}, 'UTF8')",
            )
        batch_op.create_index("ix_jobs_sha256", ["sha256"], unique=False)
        batch_op.add_column(
            sa.Column("write_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("faults", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("batch_limit", sa.Integer(), nullable=True))
    if not postgresql:  # SQLite keeps a copied value's text type: make it the bytes
        op.execute("UPDATE jobs SET folder = CAST(folder AS BLOB), relpath = CAST(relpath AS BLOB)")


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("batch_limit")
        batch_op.drop_column("faults")
        batch_op.drop_column("write_attempts")
        batch_op.drop_index("ix_jobs_sha256")
        for column in PATHS:
            batch_op.alter_column(
                column,
                existing_type=sa.LargeBinary(),
                type_=sa.String(length=4096),
                existing_nullable=False,
                postgresql_using=f"convert_from({column}, 'UTF8')",
            )
    if op.get_bind().dialect.name != "postgresql":
        op.execute("UPDATE jobs SET folder = CAST(folder AS TEXT), relpath = CAST(relpath AS TEXT)")
