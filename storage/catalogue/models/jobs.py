"""Job tables: APScheduler's job store and compression after commit (storage/compression.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    Unicode,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.catalogue.models.base import Base, UTCDateTime

# APScheduler 3's job table (SQLAlchemyJobStore, same definition). It is created by migration
# 0002 rather than by the scheduler, so that several nodes starting `serve` at once cannot race
# to create it, and declared here so that Alembic autogenerate does not propose dropping it.
apscheduler_jobs = Table(
    "apscheduler_jobs",
    Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)


class CompressionJob(Base):
    """One recording committed in its cheap form (WAV) and waiting to be compressed, or done.

    The job row names every object the recording may have while it changes form: the one it
    was committed with (`old_object_key`) and the compact one (`new_object_key`, written here
    before it is uploaded), so destruction finds both whatever step a worker died at.
    Claims are leases: a worker that dies loses its claim when `lease_until` passes.
    """

    __tablename__ = "compression_jobs"

    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"), primary_key=True)
    target_format: Mapped[str] = mapped_column(String(8))
    # queued → replaced (compact version committed, old object still to delete) → done;
    # dropped: the recording was destroyed first; failed: its stored object failed checks.
    state: Mapped[str] = mapped_column(String(16))
    old_object_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    new_object_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(36), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_compression_jobs_state_not_before", "state", "not_before"),)
