"""job table, api requests, results cache, daemon state

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_requests",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("response_uri", sa.String(length=2048), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("options_fp", sa.String(length=16), nullable=False),
        sa.Column("options_json", sa.Text(), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("next_poll_at", sa.DateTime(), nullable=False),
        sa.Column("last_polled_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("poll_failures", sa.Integer(), nullable=False),
        sa.Column("credits_paid", sa.Integer(), nullable=True),
        sa.Column("credits_estimated", sa.Integer(), nullable=True),
        sa.Column("credits_balance", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_requests")),
    )
    with op.batch_alter_table("api_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_api_requests_status_next_poll_at", ["status", "next_poll_at"], unique=False
        )

    op.create_table(
        "daemon_state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_daemon_state")),
    )
    op.create_table(
        "results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("options_fp", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("tagged_at", sa.DateTime(), nullable=False),
        sa.Column("options_json", sa.Text(), nullable=False),
        sa.Column("asset_json", sa.Text(), nullable=False),
        sa.Column("errors_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_results")),
        sa.UniqueConstraint("sha256", "options_fp", name=op.f("uq_results_sha256")),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("folder", sa.String(length=4096), nullable=False),
        sa.Column("relpath", sa.String(length=4096), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("upload_name", sa.String(length=1024), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("result_id", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("locked_by", sa.String(length=255), nullable=True),
        sa.Column("locked_at", sa.DateTime(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"], ["api_requests.id"], name=op.f("fk_jobs_request_id_api_requests")
        ),
        sa.ForeignKeyConstraint(
            ["result_id"], ["results.id"], name=op.f("fk_jobs_result_id_results")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("folder", "relpath", name=op.f("uq_jobs_folder")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_request_id", ["request_id"], unique=False)
        batch_op.create_index(
            "ix_jobs_state_next_attempt_at", ["state", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_state_next_attempt_at")
        batch_op.drop_index("ix_jobs_request_id")

    op.drop_table("jobs")
    op.drop_table("results")
    op.drop_table("daemon_state")
    with op.batch_alter_table("api_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_api_requests_status_next_poll_at")

    op.drop_table("api_requests")
