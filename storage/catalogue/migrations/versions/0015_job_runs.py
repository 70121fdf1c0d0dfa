"""job runs: one row per trigger of a shared scheduled job, so that it runs once across nodes

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02

Several `serve` nodes share the catalogue's APScheduler job store, and each may fire the same
trigger. The node that inserts (job, slot) first runs it; the others skip
(retention_jobs/run_once.py, beside a PostgreSQL advisory lock held while it runs).
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("slot", sa.DateTime(timezone=True), nullable=False),
        sa.Column("node", sa.String(length=255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("job", "slot"),
    )


def downgrade() -> None:
    op.drop_table("job_runs")
