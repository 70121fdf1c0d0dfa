"""Consent records as received with calls, and the do-not-record list."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage import fields
from storage.catalogue.models.base import Base, UTCDateTime


class ConsentRecordRow(Base):
    """The consent record as received with the call; append-only (a change is a new row)."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(fields.CALL_ID.max_len), index=True)
    recording_id: Mapped[str | None] = mapped_column(
        ForeignKey("recordings.id", ondelete="SET NULL"), nullable=True, index=True
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    document: Mapped[str] = mapped_column(Text)  # canonical JSON
    # A consent-only call's caller (keyed E.164 hash, never the number), so a data-subject
    # request finds it (migration 0013); NULL on rows stored with their recording.
    caller_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)


class DoNotRecordEntry(Base):
    """A caller who asked never to be recorded, by keyed hash of the number (never in clear)."""

    __tablename__ = "do_not_record"

    caller_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
    added_by: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(Text)
    # "e164": the hash of the E.164 form. NULL: added before E.164 (migration 0004), a hash of
    # the number as typed, which cannot be re-hashed (the list keeps no number).
    hash_scheme: Mapped[str | None] = mapped_column(String(16), nullable=True)
