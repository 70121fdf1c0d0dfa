"""The disclosure register (issue 11): what was handed to whom."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage import fields
from storage.catalogue.models.base import Base, UTCDateTime


class Disclosure(Base):
    """One disclosure of recordings to a recipient outside the service: who, what, when, why
    and on what basis, with the SHA-256 of the manifest of what was handed over."""

    __tablename__ = "disclosures"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    basis: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(fields.ACTOR.max_len))
    disclosed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    case_ids: Mapped[str] = mapped_column(Text)  # JSON list: the case IDs asked for
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    package_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)

    items: Mapped[list[DisclosureItem]] = relationship(
        back_populates="disclosure", cascade="all, delete-orphan", order_by="DisclosureItem.id"
    )


class DisclosureItem(Base):
    """One recording of a disclosure, as handed over (kept after the recording is destroyed:
    the register must show what was disclosed)."""

    __tablename__ = "disclosure_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    disclosure_id: Mapped[str] = mapped_column(
        ForeignKey("disclosures.id", ondelete="CASCADE"), index=True
    )
    recording_id: Mapped[str] = mapped_column(String(36), index=True)
    file_name: Mapped[str] = mapped_column(String(120))
    format: Mapped[str] = mapped_column(String(8))
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))

    disclosure: Mapped[Disclosure] = relationship(back_populates="items")
