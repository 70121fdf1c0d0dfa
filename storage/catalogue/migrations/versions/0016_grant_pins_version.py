"""playback grants pin the stored version they were opened on

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02

A browser plays a recording through many Range requests under one grant. When a worker
replaced the WAV by its Opus form meanwhile, later requests read the other version: another
format and length at the same offsets. The grant now names the object, format and length it
was opened on; the old object stays for `[worker] old_object_grace_s` (the grant lifetime).
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("playback_grants") as t:
        t.add_column(sa.Column("object_key", sa.String(length=255), nullable=True))
        t.add_column(sa.Column("format", sa.String(length=8), nullable=True))
        t.add_column(sa.Column("plaintext_bytes", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("playback_grants") as t:
        t.drop_column("plaintext_bytes")
        t.drop_column("format")
        t.drop_column("object_key")
