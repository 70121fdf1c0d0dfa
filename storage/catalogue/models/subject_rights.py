"""Data-subject rights (issue 11; consent/requests.py): the requests and their decisions,
restriction of processing and rectification."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage import fields
from storage.catalogue.models.base import Base, UTCDateTime


class SubjectRequest(Base):
    """A data-subject request (access, erasure, …) and its statutory clock (consent/clock.py)."""

    __tablename__ = "subject_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # SR-XXXXXXXX
    kind: Mapped[str] = mapped_column(String(16))
    # received → verified → in-progress → completed | refused | withdrawn
    state: Mapped[str] = mapped_column(String(16), index=True)
    received_on: Mapped[date] = mapped_column(Date)
    since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    opened_by: Mapped[str] = mapped_column(String(120))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    verified_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    verified_how: Mapped[str | None] = mapped_column(Text, nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    extension_months: Mapped[int] = mapped_column(Integer, default=0)
    extension_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    paused_days: Mapped[int] = mapped_column(Integer, default=0)
    paused_since: Mapped[date | None] = mapped_column(Date, nullable=True)
    pause_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    identifiers: Mapped[list[SubjectRequestIdentifier]] = relationship(
        cascade="all, delete-orphan", order_by="SubjectRequestIdentifier.id", lazy="selectin"
    )


class SubjectRequestIdentifier(Base):
    """What to search for: a caller number (kept only as its E.164 keyed hash) or a case ID."""

    __tablename__ = "subject_request_identifiers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(
        ForeignKey("subject_requests.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # caller | case-id
    value: Mapped[str] = mapped_column(String(fields.CASE_ID.max_len))  # hash or case ID


class SubjectRequestDecision(Base):
    """What is to happen to one recording of a request (erase, keep) and who decided it: an
    erasure is proposed by one DPO and approved by another (consent/erasure.py)."""

    __tablename__ = "subject_request_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(
        ForeignKey("subject_requests.id", ondelete="CASCADE"), index=True
    )
    recording_id: Mapped[str] = mapped_column(String(36), index=True)  # outlives the recording
    decision: Mapped[str] = mapped_column(String(8))  # erase | keep
    # erase: proposed → erased | refused (held); keep: kept
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    proposed_by: Mapped[str] = mapped_column(String(120))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    approved_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("uq_subject_request_decision", "request_id", "recording_id", unique=True),
    )


class RecordingRestriction(Base):
    """A restriction of processing (GDPR art. 18): while active (lifted_at NULL) the
    recording is hidden from supervisors and QA, cannot be evaluated and is not purged."""

    __tablename__ = "recording_restrictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    restricted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    restricted_by: Mapped[str] = mapped_column(String(fields.ACTOR.max_len))
    reason: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lifted_by: Mapped[str | None] = mapped_column(String(fields.ACTOR.max_len), nullable=True)
    lift_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        # At most one active restriction per recording.
        Index(
            "uq_recording_restrictions_active",
            "recording_id",
            unique=True,
            sqlite_where=lifted_at.is_(None),
            postgresql_where=lifted_at.is_(None),
        ),
    )


class Rectification(Base):
    """One correction of a recording's metadata (append-only; the audio never changes)."""

    __tablename__ = "rectifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(fields.ACTOR.max_len))
    field: Mapped[str] = mapped_column(String(16))  # service | case_id | statement
    change: Mapped[str] = mapped_column(String(16))  # set | add | remove | statement
    old_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    new_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
