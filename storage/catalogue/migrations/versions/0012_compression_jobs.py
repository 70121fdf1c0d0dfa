"""compression jobs: recordings committed as WAV at hang-up, compressed later by workers

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

Each row is one recording's move from its cheap first form to the compact stored form
(docs/adr/0009-compress-later.md). It names both objects while the move is under way, so
destruction removes every version of both whatever step a worker stopped at.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "compression_jobs",
        sa.Column("recording_id", sa.String(length=36), nullable=False),
        sa.Column("target_format", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("old_object_key", sa.String(length=255), nullable=True),
        sa.Column("new_object_key", sa.String(length=255), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=255), nullable=True),
        sa.Column("claim_token", sa.String(length=36), nullable=True),
        _ts("lease_until", nullable=True),
        _ts("not_before"),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("finished_at", nullable=True),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"]),
        sa.PrimaryKeyConstraint("recording_id"),
    )
    op.create_index(
        "ix_compression_jobs_state_not_before", "compression_jobs", ["state", "not_before"]
    )


def downgrade() -> None:
    op.drop_index("ix_compression_jobs_state_not_before", table_name="compression_jobs")
    op.drop_table("compression_jobs")
