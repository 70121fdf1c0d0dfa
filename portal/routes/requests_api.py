"""JSON API for data-subject requests (/api/v1/requests): the CLI's contract (design §8) over
HTTP, for the dpo role. `POST /api/v1/requests/{id}/approve` is how a second DPO approves an
erasure; the DPO who proposed it gets 403."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from consent.requests import KINDS, STATES
from portal.auth.principal import Principal
from portal.deps import CurrentUser
from portal.errors import BadInput
from portal.requests_service import PortalRequests, Requests
from portal.routes.api import ERRORS

router = APIRouter(prefix="/api/v1", tags=["data-subject requests"])
TEXT_MAX = 2000


class RequestList(BaseModel):
    items: list[dict[str, Any]]


class OpenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(max_length=32, description=f"one of {', '.join(KINDS)}")
    callers: list[str] = Field(default_factory=list, max_length=20)
    case_ids: list[str] = Field(default_factory=list, max_length=50)
    since: datetime | None = None
    until: datetime | None = None
    received: date | None = None


class MoveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    how: str | None = Field(default=None, max_length=TEXT_MAX)
    months: int | None = Field(default=None, ge=1, le=2)
    reason: str | None = Field(default=None, max_length=TEXT_MAX)


class DecideBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(max_length=TEXT_MAX)
    recording_ids: list[str] = Field(default_factory=list, max_length=1000)


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    recording_ids: list[str] = Field(default_factory=list, max_length=1000)


class PackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    both_channels: bool = False
    reason: str | None = Field(default=None, max_length=TEXT_MAX)


class Move(StrEnum):
    verify = "verify"
    extend = "extend"
    pause = "pause"
    resume = "resume"
    complete = "complete"
    refuse = "refuse"
    withdraw = "withdraw"
    object = "object"


@router.get("/requests", responses=ERRORS)
def list_requests(
    reqs: Requests, user: CurrentUser, state: str | None = None, due_within: int | None = None
) -> RequestList:
    """Requests, soonest due first; `due_within` (days): open ones due by then, or overdue."""
    if state is not None and state not in STATES:
        raise BadInput(f"state {state!r}; allowed: {', '.join(STATES)}")
    if due_within is not None and not 0 <= due_within <= 3660:
        raise BadInput(f"due_within {due_within}: a number of days from 0 to 3660")
    return RequestList(items=reqs.list(user, state, due_within))


@router.post("/requests", status_code=201, responses=ERRORS)
def open_request(reqs: Requests, user: CurrentUser, body: OpenBody) -> dict[str, Any]:
    """Record a request (numbers go in the body, never the URL; only their hash is kept)."""
    return reqs.open(
        user, body.kind, body.callers, body.case_ids, body.since, body.until, body.received
    )


@router.get("/requests/{request_id}", responses=ERRORS)
def show_request(reqs: Requests, user: CurrentUser, request_id: str) -> dict[str, Any]:
    """The same object as `callvault requests show REQ --json`."""
    return reqs.show(user, request_id)


@router.post("/requests/{request_id}/erase", responses=ERRORS)
def propose_erasure(
    reqs: Requests, user: CurrentUser, request_id: str, body: DecideBody
) -> dict[str, Any]:
    """Propose erasing the request's recordings (all found, or those named)."""
    return reqs.decide(user, request_id, "erase", body.reason, body.recording_ids)


@router.post("/requests/{request_id}/keep", responses=ERRORS)
def keep_recordings(
    reqs: Requests, user: CurrentUser, request_id: str, body: DecideBody
) -> dict[str, Any]:
    return reqs.decide(user, request_id, "keep", body.reason, body.recording_ids)


@router.post("/requests/{request_id}/restrict", responses=ERRORS)
def restrict_recordings(
    reqs: Requests, user: CurrentUser, request_id: str, body: DecideBody
) -> dict[str, Any]:
    """Restriction request: restrict the recordings found (or those named), audited."""
    return reqs.restrict(user, request_id, body.reason, body.recording_ids)


@router.post("/requests/{request_id}/approve", responses=ERRORS)
def approve_erasure(
    reqs: Requests, user: CurrentUser, request_id: str, body: ApproveBody
) -> dict[str, Any]:
    """A second DPO approves the proposed erasure (or part of it): the recordings are
    crypto-shredded; held ones are refused, naming the hold."""
    return reqs.approve(user, request_id, body.recording_ids)


@router.post(
    "/requests/{request_id}/pack",
    responses={**ERRORS, 200: {"content": {"application/zip": {}}}},
    response_class=Response,
)
def pack(reqs: Requests, user: CurrentUser, request_id: str, body: PackBody) -> Response:
    """The reply to an access or portability request, as a zip (audited with its SHA-256)."""
    return pack_response(reqs, user, request_id, body.both_channels, body.reason)


@router.post("/requests/{request_id}/{action}", responses=ERRORS)
def move(
    reqs: Requests, user: CurrentUser, request_id: str, action: Move, body: MoveBody
) -> dict[str, Any]:
    """verify (how), extend (months, reason), pause (reason), resume, complete, refuse
    (reason), withdraw, object (onto the do-not-record list)."""
    return reqs.move(user, request_id, action.value, **body.model_dump())


def pack_response(
    reqs: PortalRequests, user: Principal, request_id: str, both: bool, reason: str | None
) -> Response:
    _plan, chunks = reqs.pack(user, request_id, both, reason)
    headers = {
        "Content-Disposition": f'attachment; filename="{request_id}-pack.zip"',
        "Cache-Control": "no-store",
    }
    return StreamingResponse(chunks, media_type="application/zip", headers=headers)
