"""the portal's search indexes carry the recording ID: (service, started_at, id), (agent, started_at, id)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02

The search's count excludes restricted recordings with NOT EXISTS on recording_restrictions,
which needs each row's ID. Without the ID in the index PostgreSQL gave up the index-only scan
of (service, started_at) and walked the started_at index instead, filtering out nine rows in
ten: 85-106 ms for a 30-day count among a million rows, against 6-7 ms with the ID in the
index (bench/portal.py, EXPLAIN ANALYZE). The ID is also the keyset's tie-breaker, so the
index matches the page order exactly.
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_recordings_service_started_at", table_name="recordings")
    op.drop_index("ix_recordings_agent_started_at", table_name="recordings")
    op.create_index(
        "ix_recordings_service_started_id", "recordings", ["service", "started_at", "id"]
    )
    op.create_index("ix_recordings_agent_started_id", "recordings", ["agent", "started_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_recordings_agent_started_id", table_name="recordings")
    op.drop_index("ix_recordings_service_started_id", table_name="recordings")
    op.create_index("ix_recordings_service_started_at", "recordings", ["service", "started_at"])
    op.create_index("ix_recordings_agent_started_at", "recordings", ["agent", "started_at"])
