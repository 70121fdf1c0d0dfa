"""One row per trigger of a shared scheduled job that a node ran (retention_jobs/run_once.py).

Its primary key (job, slot) is what makes a trigger run once across nodes: the node whose
insert succeeds runs it; the others see the row and skip.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.catalogue.models.base import Base, UTCDateTime


class JobRun(Base):
    """A shared job's run for one trigger time: who ran it, when, and how it ended."""

    __tablename__ = "job_runs"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)  # the trigger time
    node: Mapped[str] = mapped_column(String(255))  # host:pid
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    result: Mapped[str | None] = mapped_column(String(16), nullable=True)  # ok | failed
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
