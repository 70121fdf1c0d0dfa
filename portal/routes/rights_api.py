"""JSON API for the DPO's data-subject rights (/api/v1): the disclosure register, restricting
and lifting, rectification. The same rules and answers as the pages and the CLI."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from consent.disclosures import DisclosureRequest
from consent.rectification import Change
from portal.deps import CurrentUser
from portal.rights import Rights
from portal.routes.api import ERRORS
from portal.routes.disclosures_pages import package_response

router = APIRouter(prefix="/api/v1", tags=["data-subject rights"])
REASON_MAX = 2000


class DisclosureList(BaseModel):
    items: list[dict[str, Any]]


class DisclosureBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    recipient: str = Field(max_length=200)
    kind: str = Field(max_length=32)
    basis: str = Field(max_length=REASON_MAX)
    reference: str = Field(max_length=120)
    reason: str = Field(max_length=REASON_MAX)
    recording_ids: list[str] = Field(default_factory=list, max_length=1000)
    case_ids: list[str] = Field(default_factory=list, max_length=50)


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(max_length=REASON_MAX)


class RectifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service: str | None = Field(default=None, max_length=120)
    add_case_ids: list[str] = Field(default_factory=list, max_length=50)
    remove_case_ids: list[str] = Field(default_factory=list, max_length=50)
    statement: str | None = Field(default=None, max_length=REASON_MAX)
    reason: str = Field(max_length=REASON_MAX)


@router.get("/disclosures", responses=ERRORS)
def list_disclosures(
    rights: Rights, user: CurrentUser, recording_id: str | None = None, recipient: str | None = None
) -> DisclosureList:
    """The register, newest first (the dpo role)."""
    return DisclosureList(items=rights.disclosures(user, recording_id, recipient))


@router.get("/disclosures/{disclosure_id}", responses=ERRORS)
def show_disclosure(rights: Rights, user: CurrentUser, disclosure_id: str) -> dict[str, Any]:
    return rights.disclosure(user, disclosure_id)


@router.post(
    "/disclosures",
    responses={**ERRORS, 200: {"content": {"application/zip": {}}}},
    response_class=Response,
)
def add_disclosure(rights: Rights, user: CurrentUser, body: DisclosureBody) -> Response:
    """Record a disclosure (audited) and answer with the recipient's package: a zip of the
    recordings as stored, manifest.json and SHA256SUMS; X-Disclosure-Id names the entry."""
    req = DisclosureRequest(
        body.recipient,
        body.kind,
        body.basis,
        body.reference,
        body.reason,
        body.recording_ids,
        body.case_ids,
    )
    return package_response(rights, user, req)


@router.post("/recordings/{recording_id}/restrict", responses=ERRORS)
def restrict(
    rights: Rights, user: CurrentUser, recording_id: str, body: ReasonBody
) -> dict[str, Any]:
    """Restrict a recording: hidden from supervisors and QA, kept by the purge (audited)."""
    return rights.restrict(user, recording_id, body.reason)


@router.post("/recordings/{recording_id}/unrestrict", responses=ERRORS)
def unrestrict(
    rights: Rights, user: CurrentUser, recording_id: str, body: ReasonBody
) -> dict[str, Any]:
    return rights.lift(user, recording_id, body.reason)


@router.post("/recordings/{recording_id}/rectify", responses=ERRORS)
def rectify(
    rights: Rights, user: CurrentUser, recording_id: str, body: RectifyBody
) -> dict[str, Any]:
    """Correct the metadata (append-only history); answers with the recording object."""
    changes = [Change("service", body.service)] if body.service is not None else []
    changes += [Change("add-case-id", c) for c in body.add_case_ids]
    changes += [Change("remove-case-id", c) for c in body.remove_case_ids]
    changes += [Change("statement", body.statement)] if body.statement is not None else []
    return rights.rectify(user, recording_id, changes, body.reason)
