"""The disclosure register (issue 11 item 8): recordings handed to someone outside the service.

Each disclosure records who disclosed what to whom, when, why and on what basis, with the
SHA-256 of the manifest of the package the recipient got (consent/disclosure_package.py). The
register is append-only; an item keeps naming its recording after the recording is destroyed.
Every disclosed recording gets a `disclosure.add` audit event, written before the package is
released (the CLI) or before its first byte leaves (the portal).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from consent import disclosure_package as package
from consent.errors import ConsentError
from storage import fields
from storage.audit import AuditLog
from storage.catalogue.db import Catalogue
from storage.catalogue.models import (
    CaseRef,
    Disclosure,
    DisclosureItem,
    Recording,
    RecordingCaseRef,
)
from storage.clock import utcnow
from storage.errors import NotFoundError, StorageError
from storage.export import OutputFile
from storage.fields import FieldError, TextField, check_reason
from storage.retrieval import Recordings

KINDS = ("police", "ombudsman", "partner", "council-service", "court", "other")
RECIPIENT = TextField("recipient (--recipient)", 200)
REFERENCE = TextField("disclosure reference (--reference)", 120)


class DisclosureError(ConsentError):
    """A disclosure that cannot be made or found; the message names what was wrong."""


@dataclass(frozen=True)
class DisclosureRequest:
    recipient: str
    kind: str
    basis: str
    reference: str
    reason: str
    recording_ids: Sequence[str] = ()
    case_ids: Sequence[str] = ()

    def checked(self) -> DisclosureRequest:
        if self.kind not in KINDS:
            raise DisclosureError(f"disclosure kind {self.kind!r}; allowed: {', '.join(KINDS)}")
        if not self.recording_ids and not self.case_ids:
            raise DisclosureError("name what is disclosed: --recording ID or --case-id C")
        try:
            return DisclosureRequest(
                recipient=RECIPIENT.check(self.recipient.strip()),
                kind=self.kind,
                basis=check_reason(self.basis, "basis (--basis)"),
                reference=REFERENCE.check(self.reference.strip()),
                reason=check_reason(self.reason, "disclosure reason (--reason)"),
                recording_ids=list(dict.fromkeys(r.strip() for r in self.recording_ids)),
                case_ids=[fields.CASE_ID.check(c.strip()) for c in dict.fromkeys(self.case_ids)],
            )
        except FieldError as exc:
            raise DisclosureError(str(exc)) from None


@dataclass(frozen=True)
class Plan:
    """A checked disclosure, its id, time and the files it will hand over."""

    id: str
    request: DisclosureRequest
    actor: str
    at: datetime
    entries: list[package.Entry]
    manifest: bytes = field(repr=False)

    @property
    def manifest_sha256(self) -> str:
        return hashlib.sha256(self.manifest).hexdigest()


def disclosure_view(d: Disclosure) -> dict[str, Any]:
    return {
        "id": d.id,
        "recipient": d.recipient,
        "kind": d.kind,
        "basis": d.basis,
        "reference": d.reference,
        "reason": d.reason,
        "actor": d.actor,
        "disclosed_at": d.disclosed_at.isoformat(),
        "case_ids": json.loads(d.case_ids),
        "recording_ids": [i.recording_id for i in d.items],
        "manifest_sha256": d.manifest_sha256,
        "package_sha256": d.package_sha256,
        "files": [
            {
                "recording_id": i.recording_id,
                "file": i.file_name,
                "format": i.format,
                "bytes": i.bytes,
                "sha256": i.sha256,
            }
            for i in d.items
        ],
    }


def _query() -> Any:
    return select(Disclosure).options(selectinload(Disclosure.items))


def for_recordings(session: Session, recording_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Every disclosure that included any of the recordings, oldest first (JSON-ready)."""
    ids = list(dict.fromkeys(recording_ids))
    if not ids:
        return []
    having = select(DisclosureItem.disclosure_id).where(DisclosureItem.recording_id.in_(ids))
    stmt = (
        _query().where(Disclosure.id.in_(having)).order_by(Disclosure.disclosed_at, Disclosure.id)
    )
    return [disclosure_view(d) for d in session.scalars(stmt)]


def list_disclosures(
    session: Session, *, recording_id: str | None = None, recipient: str | None = None
) -> list[dict[str, Any]]:
    """The register, newest first; recipient matches whole names, ignoring case."""
    stmt = _query()
    if recording_id:
        stmt = stmt.where(
            Disclosure.id.in_(
                select(DisclosureItem.disclosure_id).where(
                    DisclosureItem.recording_id == recording_id
                )
            )
        )
    if recipient:
        stmt = stmt.where(func.lower(Disclosure.recipient) == recipient.strip().lower())
    stmt = stmt.order_by(Disclosure.disclosed_at.desc(), Disclosure.id)
    return [disclosure_view(d) for d in session.scalars(stmt)]


def _resolve(s: Session, req: DisclosureRequest) -> list[Recording]:
    found: dict[str, Recording] = {}
    for rid in req.recording_ids:
        rec = s.get(Recording, rid, options=[selectinload(Recording.case_links)])
        if rec is None:
            raise DisclosureError(f"no recording with id {rid!r}")
        if rec.state != "stored":
            raise DisclosureError(
                f"recording {rid} is {rec.state}; only a stored recording can be disclosed"
            )
        found[rid] = rec
    for case in req.case_ids:
        stmt = (
            select(Recording)
            .join(RecordingCaseRef, RecordingCaseRef.recording_id == Recording.id)
            .join(CaseRef, CaseRef.id == RecordingCaseRef.case_ref_id)
            .where(CaseRef.reference == case, Recording.state == "stored")
            .options(selectinload(Recording.case_links))
            .order_by(Recording.started_at, Recording.id)
        )
        recs = list(s.scalars(stmt))
        if not recs:
            raise DisclosureError(f"case id {case!r} has no stored recording to disclose")
        found.update((r.id, r) for r in recs)
    return list(found.values())


class Disclosures:
    """Plans, packages and records disclosures; who may disclose is the caller's decision."""

    def __init__(
        self,
        catalogue: Catalogue,
        recordings: Recordings,
        *,
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.catalogue = catalogue
        self.recordings = recordings
        self.clock = clock
        self.audit = audit or AuditLog(clock)

    def plan(self, req: DisclosureRequest, *, actor: str) -> Plan:
        req = req.checked()
        did, at = str(uuid.uuid4()), self.clock()
        with self.catalogue.session() as s:
            entries = [
                package.Entry(
                    recording_id=r.id,
                    file_name=package.file_name(r.id, r.format),
                    format=r.format,
                    bytes=r.plaintext_bytes,
                    sha256=r.sha256_plaintext,
                    started_at=r.started_at.isoformat(),
                    duration_s=round(r.duration_s, 3),
                    service=r.service,
                    case_ids=[lk.case_ref.reference for lk in r.case_links],
                )
                for r in _resolve(s, req)
            ]
        head = {
            "id": did,
            "recipient": req.recipient,
            "kind": req.kind,
            "basis": req.basis,
            "reference": req.reference,
            "reason": req.reason,
            "disclosed_by": actor,
            "disclosed_at": at.isoformat(),
        }
        return Plan(did, req, actor, at, entries, package.manifest_bytes(head, entries))

    def package(self, plan: Plan) -> Iterator[bytes]:
        """The zip for the recipient, in chunks (decrypting as it goes)."""
        return package.stream(plan.entries, plan.manifest, self.recordings.open_audio, plan.at)

    def record(self, plan: Plan, package_sha256: str | None = None) -> dict[str, Any]:
        """Write the register entry and one audit event per recording, in one transaction."""
        req = plan.request
        with self.catalogue.session() as s:
            d = Disclosure(
                id=plan.id,
                recipient=req.recipient,
                kind=req.kind,
                basis=req.basis,
                reference=req.reference,
                reason=req.reason,
                actor=plan.actor,
                disclosed_at=plan.at,
                case_ids=json.dumps(list(req.case_ids)),
                manifest_sha256=plan.manifest_sha256,
                package_sha256=package_sha256,
                items=[
                    DisclosureItem(
                        recording_id=e.recording_id,
                        file_name=e.file_name,
                        format=e.format,
                        bytes=e.bytes,
                        sha256=e.sha256,
                    )
                    for e in plan.entries
                ],
            )
            s.add(d)
            s.flush()
            for e in plan.entries:
                self.audit.append(
                    s,
                    actor=plan.actor,
                    action="disclosure.add",
                    recording_id=e.recording_id,
                    details={
                        "disclosure_id": plan.id,
                        "recipient": req.recipient,
                        "kind": req.kind,
                        "reference": req.reference,
                        "basis": req.basis,
                        "reason": req.reason,
                        "sha256": e.sha256,
                        "manifest_sha256": plan.manifest_sha256,
                        "package_sha256": package_sha256,
                    },
                )
            return disclosure_view(d)

    def add(
        self, req: DisclosureRequest, out: Path, *, actor: str, force: bool = False
    ) -> dict[str, Any]:
        """Write the package to `out` (a .zip), record the disclosure, then release the file:
        a package that failed is never released and never recorded."""
        if out.suffix.lower() != ".zip":
            raise DisclosureError(f"--out {out.name}: the package is a zip; end the name in .zip")
        plan = self.plan(req, actor=actor)
        output = OutputFile(out, force=force)
        try:
            digest = hashlib.sha256()
            with open(output.tmp, "wb") as fh:
                for chunk in self.package(plan):
                    digest.update(chunk)
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            view = self.record(plan, digest.hexdigest())
        except OSError as exc:
            output.discard()
            raise StorageError(f"cannot write {out}: {exc.strerror or exc}") from None
        except BaseException:
            output.discard()
            raise
        output.release()
        return view | {"out": str(out)}

    def show(self, disclosure_id: str) -> dict[str, Any]:
        if not disclosure_id.isprintable():  # PostgreSQL refuses NUL in a query
            raise NotFoundError("no disclosure with that id")
        with self.catalogue.session() as s:
            d = s.scalar(_query().where(Disclosure.id == disclosure_id))
            if d is None:
                raise NotFoundError(f"no disclosure with id {disclosure_id!r}")
            return disclosure_view(d)

    def list(
        self, *, recording_id: str | None = None, recipient: str | None = None
    ) -> list[dict[str, Any]]:
        with self.catalogue.session() as s:
            return list_disclosures(s, recording_id=recording_id, recipient=recipient)
