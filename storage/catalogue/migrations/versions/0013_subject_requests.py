"""data-subject requests: the request and its clock, what to search for, per-recording decisions;
consent-only records keep their caller's hash so a request finds them

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

Caller numbers are kept only as their E.164 keyed hash (subject_request_identifiers.value). A
decision keeps its recording ID after the recording is destroyed (no foreign key), as the
destruction record does.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("consent_records") as batch:
        batch.add_column(sa.Column("caller_hash", sa.String(64), nullable=True))
        batch.create_index("ix_consent_records_caller_hash", ["caller_hash"])
    op.create_table(
        "subject_requests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        _ts("since", True),
        _ts("until", True),
        sa.Column("opened_by", sa.String(120), nullable=False),
        _ts("opened_at"),
        sa.Column("verified_by", sa.String(120), nullable=True),
        sa.Column("verified_how", sa.Text(), nullable=True),
        _ts("verified_at", True),
        sa.Column("extension_months", sa.Integer(), nullable=False),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("paused_days", sa.Integer(), nullable=False),
        sa.Column("paused_since", sa.Date(), nullable=True),
        sa.Column("pause_reason", sa.Text(), nullable=True),
        _ts("closed_at", True),
        sa.Column("closed_reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_subject_requests_state", "subject_requests", ["state"])
    op.create_table(
        "subject_request_identifiers",
        sa.Column("id", sa.Integer(), autoincrement=True, primary_key=True),
        sa.Column(
            "request_id",
            sa.String(36),
            sa.ForeignKey("subject_requests.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(120), nullable=False),
    )
    op.create_index(
        "ix_subject_request_identifiers_request_id", "subject_request_identifiers", ["request_id"]
    )
    op.create_table(
        "subject_request_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, primary_key=True),
        sa.Column(
            "request_id",
            sa.String(36),
            sa.ForeignKey("subject_requests.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("recording_id", sa.String(36), nullable=False),
        sa.Column("decision", sa.String(8), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("proposed_by", sa.String(120), nullable=False),
        _ts("proposed_at"),
        sa.Column("approved_by", sa.String(120), nullable=True),
        _ts("approved_at", True),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_index(
        "ix_subject_request_decisions_request_id", "subject_request_decisions", ["request_id"]
    )
    op.create_index(
        "ix_subject_request_decisions_recording_id", "subject_request_decisions", ["recording_id"]
    )
    op.create_index(
        "uq_subject_request_decision",
        "subject_request_decisions",
        ["request_id", "recording_id"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_table("subject_request_decisions")
    op.drop_table("subject_request_identifiers")
    op.drop_table("subject_requests")
    with op.batch_alter_table("consent_records") as batch:
        batch.drop_index("ix_consent_records_caller_hash")
        batch.drop_column("caller_hash")
