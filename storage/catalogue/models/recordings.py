"""Recordings, their wrapped data keys and their case references."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import false

from storage import fields
from storage.catalogue.models.base import Base, UTCDateTime


class Recording(Base):
    """One stored (or destroyed) recording; its personal data: caller hash and ciphertext."""

    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    call_id: Mapped[str] = mapped_column(String(fields.CALL_ID.max_len), index=True)
    state: Mapped[str] = mapped_column(String(16))  # stored | destroying | destroyed
    complete: Mapped[bool] = mapped_column(Boolean, default=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_s: Mapped[float] = mapped_column(Float)
    channels: Mapped[int] = mapped_column(Integer)
    sample_rate: Mapped[int] = mapped_column(Integer)
    service: Mapped[str | None] = mapped_column(
        String(fields.SERVICE.max_len), nullable=True, index=True
    )
    agent: Mapped[str | None] = mapped_column(String(fields.AGENT.max_len), nullable=True)
    caller_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    caller_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # The caller gave no telephone number (anonymous, letters): no hash, never matched.
    caller_withheld: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    format: Mapped[str] = mapped_column(String(8))
    plaintext_bytes: Mapped[int] = mapped_column(BigInteger)
    stored_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256_plaintext: Mapped[str] = mapped_column(String(64))
    sha256_ciphertext: Mapped[str] = mapped_column(String(64))
    object_key: Mapped[str] = mapped_column(String(255), unique=True)
    retention_class: Mapped[str | None] = mapped_column(String(64), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Fingerprint of the retention policy that set retention_class/expires_at.
    retention_policy: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The purge run destroying this recording (state "destroying") and when it claimed it.
    purge_run_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    purge_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Metadata fields that arrived invalid with a recorded call and were not stored (a JSON
    # list of field names, e.g. ["case_ids"]); the recording itself was kept.
    invalid_fields: Mapped[str | None] = mapped_column(Text, nullable=True)

    key: Mapped[RecordingKey | None] = relationship(
        back_populates="recording", cascade="all, delete-orphan", uselist=False
    )
    case_links: Mapped[list[RecordingCaseRef]] = relationship(
        back_populates="recording", cascade="all, delete-orphan", order_by="RecordingCaseRef.id"
    )

    __table_args__ = (
        Index("ix_recordings_started_at", "started_at"),
        # The purge's lookup: state first, so destroyed rows (whose expiry is long past) are
        # never scanned again; see docs/adr (retention) and bench/purge.py.
        Index("ix_recordings_state_expires_at", "state", "expires_at"),
        # The portal's usual searches: one service (or staff member) over a date range, newest
        # first, with a count; see bench/portal.py. The ID is in them for the count's
        # restriction check (NOT EXISTS by ID) and the keyset's tie-breaker (migration 0014).
        Index("ix_recordings_service_started_id", "service", "started_at", "id"),
        Index("ix_recordings_agent_started_id", "agent", "started_at", "id"),
    )


class RecordingKey(Base):
    """The per-recording data keyset, wrapped under a key-encryption key (never stored plain)."""

    __tablename__ = "recording_keys"

    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True
    )
    kek_id: Mapped[str] = mapped_column(String(255), index=True)
    wrapped_keyset: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    recording: Mapped[Recording] = relationship(back_populates="key")


class CaseRef(Base):
    __tablename__ = "case_refs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(fields.CASE_ID.max_len), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RecordingCaseRef(Base):
    """Many-to-many link between recordings and case references, with provenance."""

    __tablename__ = "recording_case_refs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    case_ref_id: Mapped[int] = mapped_column(ForeignKey("case_refs.id"), index=True)
    source: Mapped[str] = mapped_column(String(32))  # ingest | sip-header | dtmf | tag
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
    added_by: Mapped[str] = mapped_column(String(120))

    recording: Mapped[Recording] = relationship(back_populates="case_links")
    case_ref: Mapped[CaseRef] = relationship(lazy="joined")

    __table_args__ = (Index("uq_recording_case_ref", "recording_id", "case_ref_id", unique=True),)
