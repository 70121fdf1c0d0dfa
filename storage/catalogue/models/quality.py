"""QA evaluations (issue 10 item 5; the domain is quality/)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage import fields
from storage.catalogue.models.base import Base, UTCDateTime


class QaForm(Base):
    """An evaluation form, by its slug; its content lives in versions (never edited in place)."""

    __tablename__ = "qa_forms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    versions: Mapped[list[QaFormVersion]] = relationship(
        back_populates="form", order_by="QaFormVersion.version"
    )


class QaFormVersion(Base):
    """One version of a form: its whole definition as canonical JSON, and that JSON's SHA-256."""

    __tablename__ = "qa_form_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("qa_forms.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    definition: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(120))

    form: Mapped[QaForm] = relationship(back_populates="versions")

    __table_args__ = (Index("uq_qa_form_versions_form_version", "form_id", "version", unique=True),)


class QaEvaluation(Base):
    """One evaluator's evaluation of one recording against one pinned form version.

    The staff member and service are copied from the recording when it is evaluated, so a
    report says whom the evaluation judged even if the recording's metadata changes later.
    `score` is NULL when nothing applicable was answered ("not scored").
    """

    __tablename__ = "qa_evaluations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"), index=True)
    form_version_id: Mapped[int] = mapped_column(ForeignKey("qa_form_versions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # evaluation | calibration
    staff: Mapped[str | None] = mapped_column(String(fields.AGENT.max_len), nullable=True)
    service: Mapped[str | None] = mapped_column(String(fields.SERVICE.max_len), nullable=True)
    call_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    evaluator: Mapped[str] = mapped_column(String(fields.ACTOR.max_len))
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answers: Mapped[str] = mapped_column(Text)  # canonical JSON {question id: answer}, scored
    # Free-text answers (canonical JSON), apart from the scored ones: they may describe the
    # call, so the purge removes them with the comments when the recording is destroyed.
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    failed_on: Mapped[str | None] = mapped_column(String(64), nullable=True)  # question id

    form_version: Mapped[QaFormVersion] = relationship(lazy="joined")
    comments: Mapped[list[QaComment]] = relationship(
        back_populates="evaluation", cascade="all, delete-orphan", order_by="QaComment.offset_s"
    )

    __table_args__ = (Index("ix_qa_evaluations_kind_call_started_at", "kind", "call_started_at"),)


class QaComment(Base):
    """A comment pinned to a moment of the recording (seconds from its start)."""

    __tablename__ = "qa_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evaluation_id: Mapped[str] = mapped_column(
        ForeignKey("qa_evaluations.id", ondelete="CASCADE"), index=True
    )
    offset_s: Mapped[float] = mapped_column(Float)
    question_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    text: Mapped[str] = mapped_column(Text)

    evaluation: Mapped[QaEvaluation] = relationship(back_populates="comments")
