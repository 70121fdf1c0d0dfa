"""SQLAlchemy 2 models of the catalogue. Every timestamp is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    TypeDecorator,
    Unicode,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import false

from storage import fields


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, refuses naive datetimes, returns aware datetimes on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the catalogue; use UTC-aware time")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


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


class AuditEvent(Base):
    """Append-only, hash-chained: hash = SHA-256(prev_hash + canonical event)."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(64), index=True)
    recording_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    details: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


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


# -- the portal (issue 10): people, their sessions and tokens, playback grants ------------------


class PortalUser(Base):
    """A person (or machine) using the portal. `services` is a JSON list; NULL means every one."""

    __tablename__ = "portal_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    services: Mapped[str | None] = mapped_column(Text, nullable=True)
    may_download: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)  # argon2id
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PortalSession(Base):
    """A browser session. The cookie holds a random id; only its SHA-256 is stored."""

    __tablename__ = "portal_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("portal_users.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PortalToken(Base):
    """A bearer token for machines; only its SHA-256 is stored, the token is shown once."""

    __tablename__ = "portal_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("portal_users.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class LoginFailure(Base):
    """One failed login, by the name tried (which may be no user); the throttle counts them."""

    __tablename__ = "portal_login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class PlaybackGrant(Base):
    """Permission for one user to fetch one recording's audio for a short while, with why."""

    __tablename__ = "playback_grants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("portal_users.id", ondelete="CASCADE"), index=True
    )
    reason_code: Mapped[str] = mapped_column(String(32))
    reason_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


# -- QA evaluations (issue 10 item 5; the domain is quality/) ------------------------------------


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


# -- platform hooks and outbound webhooks (issue 12) ---------------------------------------------


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


# -- data-subject rights (issue 11): restriction, rectification, the disclosure register -------


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


# -- compression after commit (issue 9 item 2; storage/compression.py) ---------------------------


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


# -- data-subject requests (issue 11; consent/requests.py) ---------------------------------------


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
