"""SQLAlchemy 2 models of the catalogue, one module per area, sharing one declarative Base.

Every public name is re-exported here; import from `storage.catalogue.models`.
Every timestamp is timezone-aware UTC."""

from __future__ import annotations

from storage.catalogue.models.audit import AuditEvent
from storage.catalogue.models.base import Base, UTCDateTime
from storage.catalogue.models.consent import ConsentRecordRow, DoNotRecordEntry
from storage.catalogue.models.disclosures import Disclosure, DisclosureItem
from storage.catalogue.models.hooks import (
    HookUpload,
    OutboxEvent,
    PlatformCall,
    WebhookDelivery,
    WebhookEndpoint,
)
from storage.catalogue.models.job_runs import JobRun
from storage.catalogue.models.jobs import CompressionJob, apscheduler_jobs
from storage.catalogue.models.portal import (
    LoginFailure,
    PlaybackGrant,
    PortalSession,
    PortalToken,
    PortalUser,
)
from storage.catalogue.models.quality import QaComment, QaEvaluation, QaForm, QaFormVersion
from storage.catalogue.models.recordings import CaseRef, Recording, RecordingCaseRef, RecordingKey
from storage.catalogue.models.retention import DestructionRecord, LegalHold, LegalHoldItem
from storage.catalogue.models.subject_rights import (
    RecordingRestriction,
    Rectification,
    SubjectRequest,
    SubjectRequestDecision,
    SubjectRequestIdentifier,
)

__all__ = [
    "AuditEvent",
    "Base",
    "CaseRef",
    "CompressionJob",
    "ConsentRecordRow",
    "DestructionRecord",
    "Disclosure",
    "DisclosureItem",
    "DoNotRecordEntry",
    "HookUpload",
    "JobRun",
    "LegalHold",
    "LegalHoldItem",
    "LoginFailure",
    "OutboxEvent",
    "PlatformCall",
    "PlaybackGrant",
    "PortalSession",
    "PortalToken",
    "PortalUser",
    "QaComment",
    "QaEvaluation",
    "QaForm",
    "QaFormVersion",
    "Recording",
    "RecordingCaseRef",
    "RecordingKey",
    "RecordingRestriction",
    "Rectification",
    "SubjectRequest",
    "SubjectRequestDecision",
    "SubjectRequestIdentifier",
    "UTCDateTime",
    "WebhookDelivery",
    "WebhookEndpoint",
    "apscheduler_jobs",
]
