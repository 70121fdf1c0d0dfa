"""platform hooks and outbound webhooks (issue 12): outbox, endpoints, deliveries, uploads,
platform calls

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        _ts("created_at"),
        _ts("dispatched_at", True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_outbox_events_dispatched_at", "outbox_events", ["dispatched_at", "created_at"]
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("kek_id", sa.String(length=120), nullable=False),
        sa.Column("wrapped_keyset", sa.LargeBinary(), nullable=False),
        sa.Column("secrets_sealed", sa.LargeBinary(), nullable=False),
        _ts("created_at"),
        _ts("disabled_at", True),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at", True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("delivered_at", True),
        sa.ForeignKeyConstraint(["event_id"], ["outbox_events.id"]),
        sa.ForeignKeyConstraint(["endpoint_id"], ["webhook_endpoints.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_webhook_deliveries_event_id", "webhook_deliveries", ["event_id"])
    op.create_index("ix_webhook_deliveries_endpoint_id", "webhook_deliveries", ["endpoint_id"])
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["state", "next_attempt_at"])
    op.create_table(
        "hook_uploads",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("principal_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_hook_uploads_key", "hook_uploads", ["principal_id", "idempotency_key"], unique=True
    )
    op.create_table(
        "platform_calls",
        sa.Column("platform_call_id", sa.String(length=255), nullable=False),
        sa.Column("consent_record_id", sa.Integer(), nullable=False),
        _ts("opened_at"),
        _ts("updated_at"),
        sa.Column("facts", sa.Text(), nullable=False),
        _ts("audited_at", True),
        sa.ForeignKeyConstraint(["consent_record_id"], ["consent_records.id"]),
        sa.PrimaryKeyConstraint("platform_call_id"),
    )
    op.create_index("ix_platform_calls_audited_at", "platform_calls", ["audited_at"])


def downgrade() -> None:
    op.drop_index("ix_platform_calls_audited_at", table_name="platform_calls")
    op.drop_table("platform_calls")
    op.drop_index("uq_hook_uploads_key", table_name="hook_uploads")
    op.drop_table("hook_uploads")
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_endpoint_id", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_event_id", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
    op.drop_index("ix_outbox_events_dispatched_at", table_name="outbox_events")
    op.drop_table("outbox_events")
