"""Platform hooks and outbound webhooks (issue 12)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage import fields
from storage.catalogue.models.base import Base, UTCDateTime


class OutboxEvent(Base):
    """An event to tell webhook endpoints about, written in the transaction of the change it
    reports (storage/outbox.py). Thin: ids and links, never personal data."""

    __tablename__ = "outbox_events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # msg_…: the webhook-id
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When the delivery worker fanned it out to the endpoints subscribed to its type.
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_outbox_events_dispatched_at", "dispatched_at", "created_at"),)


class WebhookEndpoint(Base):
    """A receiver of webhooks; its signing secrets are sealed under a per-endpoint data key."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[str] = mapped_column(Text)  # JSON list of event types
    kek_id: Mapped[str] = mapped_column(String(120))
    wrapped_keyset: Mapped[bytes] = mapped_column(LargeBinary)
    secrets_sealed: Mapped[bytes] = mapped_column(LargeBinary)  # JSON [{secret, until}]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class WebhookDelivery(Base):
    """One event to one endpoint: its attempts, the last answer and when to try again."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("outbox_events.id"), index=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),)


class HookUpload(Base):
    """An upload through POST /hooks/v1/recordings: its job, state and Idempotency-Key answer."""

    __tablename__ = "hook_uploads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the recording / job id
    principal_id: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(16))  # receiving | queued | stored | rejected
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("uq_hook_uploads_key", "principal_id", "idempotency_key", unique=True),)


class PlatformCall(Base):
    """A call a platform asked about (POST /hooks/v1/incoming-call): its open consent-only
    record and the consent facts its events reported since (JSON)."""

    __tablename__ = "platform_calls"

    platform_call_id: Mapped[str] = mapped_column(String(fields.CALL_ID.max_len), primary_key=True)
    consent_record_id: Mapped[int] = mapped_column(ForeignKey("consent_records.id"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    facts: Mapped[str] = mapped_column(Text)  # canonical JSON
    # When the opening of its consent record was written to the audit chain (in batches:
    # portal/hooks/audit_batch.py); NULL until then.
    audited_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
