"""QA evaluation forms, versions and evaluations (issue 10 item 5)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

A form (`qa_forms`, by slug) is never edited in place: loading a changed definition adds a
row to `qa_form_versions`, and every evaluation points at the version it was scored against.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _ts(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "qa_forms",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )
    op.create_table(
        "qa_form_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        _ts("created_at"),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(["form_id"], ["qa_forms.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_qa_form_versions_form_id", "qa_form_versions", ["form_id"])
    op.create_index(
        "uq_qa_form_versions_form_version", "qa_form_versions", ["form_id", "version"], unique=True
    )
    op.create_table(
        "qa_evaluations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("recording_id", sa.String(length=36), nullable=False),
        sa.Column("form_version_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("staff", sa.String(length=120), nullable=True),
        sa.Column("service", sa.String(length=120), nullable=True),
        _ts("call_started_at"),
        sa.Column("evaluator", sa.String(length=120), nullable=False),
        _ts("evaluated_at"),
        sa.Column("answers", sa.Text(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("failed_on", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"]),
        sa.ForeignKeyConstraint(["form_version_id"], ["qa_form_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_qa_evaluations_recording_id", "qa_evaluations", ["recording_id"])
    op.create_index("ix_qa_evaluations_form_version_id", "qa_evaluations", ["form_version_id"])
    op.create_index(
        "ix_qa_evaluations_kind_call_started_at", "qa_evaluations", ["kind", "call_started_at"]
    )
    op.create_table(
        "qa_comments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("evaluation_id", sa.String(length=36), nullable=False),
        sa.Column("offset_s", sa.Float(), nullable=False),
        sa.Column("question_id", sa.String(length=64), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["evaluation_id"], ["qa_evaluations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_qa_comments_evaluation_id", "qa_comments", ["evaluation_id"])


def downgrade() -> None:
    op.drop_table("qa_comments")
    op.drop_table("qa_evaluations")
    op.drop_table("qa_form_versions")
    op.drop_table("qa_forms")
