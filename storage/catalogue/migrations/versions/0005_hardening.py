"""keyed audit chain, anchors, quarantine (issue 8)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Metadata that arrived invalid with a recorded call (the recording is kept, the field not).
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("invalid_fields", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("invalid_fields")
