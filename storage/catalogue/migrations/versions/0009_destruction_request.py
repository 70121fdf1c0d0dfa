"""destruction records name the data-subject request that caused them (erasure)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("destruction_records") as batch:
        batch.add_column(sa.Column("request_id", sa.String(36), nullable=True))
        batch.create_index("ix_destruction_records_request_id", ["request_id"])


def downgrade() -> None:
    with op.batch_alter_table("destruction_records") as batch:
        batch.drop_index("ix_destruction_records_request_id")
        batch.drop_column("request_id")
