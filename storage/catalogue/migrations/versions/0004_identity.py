"""caller numbers in E.164, withheld callers, invalid metadata fields (issue 7)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Recordings gain `caller_withheld` (no telephone number was given: no hash). Do-not-record
entries gain `hash_scheme`: "e164" for entries hashed from the E.164 form; the entries that
exist now were hashed from the number as typed and stay NULL, so `callvault identity rehash`
can list them for an operator to re-add (the list holds no number to re-hash from).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recordings") as batch_op:
        batch_op.add_column(
            sa.Column("caller_withheld", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("do_not_record") as batch_op:
        batch_op.add_column(sa.Column("hash_scheme", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("do_not_record") as batch_op:
        batch_op.drop_column("hash_scheme")
    with op.batch_alter_table("recordings") as batch_op:
        batch_op.drop_column("caller_withheld")
