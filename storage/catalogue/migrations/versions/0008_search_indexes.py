"""indexes for the portal's searches: (service, started_at) and (agent, started_at)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_recordings_service_started_at", "recordings", ["service", "started_at"])
    op.create_index("ix_recordings_agent_started_at", "recordings", ["agent", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_recordings_agent_started_at", table_name="recordings")
    op.drop_index("ix_recordings_service_started_at", table_name="recordings")
