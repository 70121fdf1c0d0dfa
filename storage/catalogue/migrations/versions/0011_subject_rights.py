"""data-subject rights: restrictions, rectification history, the disclosure register

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

A restriction row is active while lifted_at is NULL (at most one active per recording). A
rectification row is never changed. A disclosure keeps its items after the recordings go:
disclosure_items.recording_id is deliberately not a foreign key.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "recording_restrictions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recording_id", sa.String(length=36), nullable=False),
        _ts("restricted_at"),
        sa.Column("restricted_by", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=True),
        _ts("lifted_at", True),
        sa.Column("lifted_by", sa.String(length=120), nullable=True),
        sa.Column("lift_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_recording_restrictions_recording_id", "recording_restrictions", ["recording_id"]
    )
    op.create_index(
        "ix_recording_restrictions_request_id", "recording_restrictions", ["request_id"]
    )
    op.create_index(
        "uq_recording_restrictions_active",
        "recording_restrictions",
        ["recording_id"],
        unique=True,
        sqlite_where=sa.text("lifted_at IS NULL"),
        postgresql_where=sa.text("lifted_at IS NULL"),
    )
    op.create_table(
        "rectifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recording_id", sa.String(length=36), nullable=False),
        _ts("at"),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rectifications_recording_id", "rectifications", ["recording_id"])
    op.create_index("ix_rectifications_request_id", "rectifications", ["request_id"])
    op.create_table(
        "disclosures",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        _ts("disclosed_at"),
        sa.Column("case_ids", sa.Text(), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("package_sha256", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_disclosures_recipient", "disclosures", ["recipient"])
    op.create_index("ix_disclosures_disclosed_at", "disclosures", ["disclosed_at"])
    op.create_table(
        "disclosure_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("disclosure_id", sa.String(length=36), nullable=False),
        sa.Column("recording_id", sa.String(length=36), nullable=False),
        sa.Column("file_name", sa.String(length=120), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["disclosure_id"], ["disclosures.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_disclosure_items_disclosure_id", "disclosure_items", ["disclosure_id"])
    op.create_index("ix_disclosure_items_recording_id", "disclosure_items", ["recording_id"])


def downgrade() -> None:
    op.drop_table("disclosure_items")
    op.drop_table("disclosures")
    op.drop_table("rectifications")
    op.drop_table("recording_restrictions")
