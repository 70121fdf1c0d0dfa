"""Legal holds and the destruction records the purge and erasures leave."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.catalogue.models.base import Base, UTCDateTime


class LegalHold(Base):
    """A legal hold: while active (released_at NULL) nothing it covers is destroyed."""

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(120), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(120))
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    released_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    release_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    items: Mapped[list[LegalHoldItem]] = relationship(
        back_populates="hold", cascade="all, delete-orphan", order_by="LegalHoldItem.id"
    )


class LegalHoldItem(Base):
    """What a hold covers: one recording, or a case reference (also recordings tagged later)."""

    __tablename__ = "legal_hold_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hold_id: Mapped[int] = mapped_column(
        ForeignKey("legal_holds.id", ondelete="CASCADE"), index=True
    )
    recording_id: Mapped[str | None] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), nullable=True, index=True
    )
    case_reference: Mapped[str | None] = mapped_column(String(120), nullable=True, index=True)

    hold: Mapped[LegalHold] = relationship(back_populates="items")

    __table_args__ = (
        CheckConstraint(
            "(recording_id IS NULL) <> (case_reference IS NULL)",
            name="ck_legal_hold_items_one_target",
        ),
    )


class DestructionRecord(Base):
    """Proof that something was destroyed, holding no personal data. One per recording (or
    consent-only record): the unique indexes make a second destruction record impossible."""

    __tablename__ = "destruction_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # recording | consent-record
    recording_id: Mapped[str | None] = mapped_column(String(36), nullable=True, unique=True)
    consent_record_id: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    object_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    versions_removed: Mapped[int] = mapped_column(Integer)
    key_destroyed: Mapped[bool] = mapped_column(Boolean)
    consent_records_removed: Mapped[int] = mapped_column(Integer)
    retention_class: Mapped[str] = mapped_column(String(64))
    retention_period: Mapped[str] = mapped_column(String(32))
    policy_id: Mapped[str] = mapped_column(String(120))
    policy_fingerprint: Mapped[str] = mapped_column(String(64))
    expired_at: Mapped[datetime] = mapped_column(UTCDateTime())
    as_of: Mapped[datetime] = mapped_column(UTCDateTime())  # the "now" the run judged expiry by
    destroyed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    run_id: Mapped[str] = mapped_column(String(36), index=True)
    resumed_from_run: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # The data-subject request (an approved erasure) that caused it; NULL for retention.
    request_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    node: Mapped[str] = mapped_column(String(255))
    audit_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
