"""JSON API /api/v1 (design.md section 7): the same authorisation as the pages, the same
recording object as `callvault recordings show ID --json`, RFC 9457 problems on error."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from portal.audit_view import AuditQuery, audit_verdict, events
from portal.deps import Ctx, CurrentUser
from portal.forms import parse_query
from portal.grants import MAX_REASON
from portal.routes.recording_pages import audio_response
from portal.search import OUTCOMES, search

router = APIRouter(prefix="/api/v1", tags=["recordings"])
PROBLEM: dict[str, Any] = {"model": None, "content": {"application/problem+json": {}}}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad request (problem details)", **PROBLEM},
    401: {"description": "Not authenticated (problem details)", **PROBLEM},
    403: {"description": "Forbidden (problem details)", **PROBLEM},
    404: {"description": "Not found (problem details)", **PROBLEM},
}


class RecordingPage(BaseModel):
    items: list[dict[str, Any]]
    total: int
    next_cursor: str | None


class SearchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    caller: str | None = Field(default=None, max_length=200)
    service: str | None = Field(default=None, max_length=120)
    agent: str | None = Field(default=None, max_length=120)
    case_id: str | None = Field(default=None, max_length=120)
    since: datetime | None = None
    until: datetime | None = None
    outcome: str | None = Field(default=None, max_length=32)
    complete: bool | None = None
    min_duration_s: float | None = Field(default=None, ge=0, le=10**6)
    max_duration_s: float | None = Field(default=None, ge=0, le=10**6)
    sort: str = "started_at"
    order: str = "desc"
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=500)


class AccessBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(max_length=MAX_REASON)
    reason_code: str = Field(default="other", max_length=32)


class AccessGrant(BaseModel):
    grant: str
    audio_url: str
    expires_at: str


class AuditPage(BaseModel):
    items: list[dict[str, Any]]
    chain: str  # "ok", or `callvault audit verify`'s one line naming what is wrong
    problems: list[str]  # as `callvault audit verify --json` lists them
    next_before_seq: int | None


def _page(ctx: Ctx, user: CurrentUser, fields: dict[str, Any], caller: str | None) -> RecordingPage:
    q = parse_query(fields, ctx.caller_hash, caller=caller)
    with ctx.catalogue.session() as s:
        page = search(s, user, q)
    return RecordingPage(items=page.items, total=page.total, next_cursor=page.next_cursor)


@router.get("/recordings", responses=ERRORS)
def list_recordings(
    ctx: Ctx,
    user: CurrentUser,
    service: Annotated[str | None, Query(max_length=120)] = None,
    agent: Annotated[str | None, Query(max_length=120)] = None,
    case_id: Annotated[str | None, Query(max_length=120)] = None,
    since: Annotated[str | None, Query(max_length=40)] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
    outcome: Annotated[str | None, Query(description=", ".join(OUTCOMES), max_length=32)] = None,
    complete: Annotated[str | None, Query(description="yes or no", max_length=5)] = None,
    sort: Annotated[str, Query(max_length=20)] = "started_at",
    order: Annotated[str, Query(max_length=4)] = "desc",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> RecordingPage:
    """Recordings the caller may see, newest first (no caller numbers here: use search)."""
    fields = dict(
        service=service,
        agent=agent,
        case_id=case_id,
        since=since,
        until=until,
        outcome=outcome,
        complete=complete,
        sort=sort,
        order=order,
        limit=limit,
        cursor=cursor,
    )
    return _page(ctx, user, fields, None)


@router.post("/recordings/search", responses=ERRORS)
def search_recordings(ctx: Ctx, user: CurrentUser, body: SearchBody) -> RecordingPage:
    """The same filters, plus the caller number, in the body (numbers never go in URLs)."""
    fields = body.model_dump(exclude={"caller"}, exclude_none=True)
    for key in ("since", "until"):
        if key in fields:
            fields[key] = fields[key].isoformat()
    if "complete" in fields:
        fields["complete"] = "yes" if fields["complete"] else "no"
    return _page(ctx, user, fields, body.caller)


@router.get("/recordings/{recording_id}", responses=ERRORS)
def show_recording(ctx: Ctx, user: CurrentUser, recording_id: str) -> dict[str, Any]:
    """The same object as `callvault recordings show ID --json`."""
    return ctx.portal_recordings.show(user, recording_id)


@router.post("/recordings/{recording_id}/access", responses=ERRORS)
def open_access(
    request: Request, ctx: Ctx, user: CurrentUser, recording_id: str, body: AccessBody
) -> AccessGrant:
    """Open a playback grant (audited, with the reason); the audio URL works while it lasts."""
    g = ctx.grants.open(user, recording_id, body.reason_code, body.reason)
    return AccessGrant(grant=g.id, audio_url=f"/audio/{g.id}", expires_at=g.expires_at.isoformat())


@router.get(
    "/audio/{grant_id}",
    responses={**ERRORS, 206: {"description": "Partial audio"}, 416: {"description": "Bad range"}},
    response_class=Response,
)
def api_audio(
    ctx: Ctx,
    user: CurrentUser,
    grant_id: str,
    range: Annotated[str | None, Header(max_length=100)] = None,
) -> Response:
    """The audio of a grant (also served at /audio/{grant} for the browser's <audio>)."""
    return audio_response(ctx, user, grant_id, range)


@router.get("/audit", responses=ERRORS, tags=["audit"])
def audit(
    ctx: Ctx,
    user: CurrentUser,
    recording_id: Annotated[str | None, Query(max_length=36)] = None,
    actor: Annotated[str | None, Query(max_length=120)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
    before_seq: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    since, until = (t.replace(tzinfo=UTC) if t and t.tzinfo is None else t for t in (since, until))
    q = AuditQuery(recording_id, actor, action, since, until, before_seq, limit)
    with ctx.catalogue.session() as s:
        items, nxt = events(s, user, q)
        verdict = audit_verdict(s)
    return AuditPage(
        items=items, chain=verdict.summary(), problems=verdict.problems, next_before_seq=nxt
    )
