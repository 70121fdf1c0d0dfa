"""/hooks/v1 (design.md section 7): what a telephony platform calls. Bearer tokens of
`platform` users only (portal/hooks/auth.py); RFC 9457 problems on error."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import parse_qsl

import anyio
from fastapi import APIRouter, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from portal.errors import BadInput, NotFound, TooLarge, UnsupportedMediaType
from portal.hooks.auth import PlatformUser
from portal.hooks.calls import CallEvent
from portal.hooks.idempotency import Answer, check_key, replay
from portal.hooks.multipart import TooLarge as UploadTooLarge
from portal.hooks.multipart import receive
from portal.hooks.service import HooksService
from portal.routes.api import PROBLEM

router = APIRouter(prefix="/hooks/v1", tags=["platform hooks"])
open_router = APIRouter(prefix="/hooks/v1", tags=["platform hooks"])


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    titles = {
        400: "Bad request",
        401: "Not authenticated",
        403: "Forbidden (not a platform token)",
        404: "Not found",
        409: "The request with this Idempotency-Key is still being answered",
        413: "Upload too large",
        415: "Neither JSON nor form-encoded",
        422: "Unprocessable (bad audio, bad manifest, or an Idempotency-Key reused)",
    }
    return {c: {"description": f"{titles[c]} (problem details)", **PROBLEM} for c in codes}


def hooks(request: Request) -> HooksService:
    svc: HooksService = request.app.state.hooks
    return svc


class IncomingCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    platform_call_id: str = Field(min_length=1, max_length=255)
    caller: str | None = Field(default=None, max_length=255, description="as the platform has it")
    dialled: str = Field(default="", max_length=64)


class NoticeOut(BaseModel):
    id: str
    version: str
    language: str
    duration_s: float
    audio_url: str


class DecisionOut(BaseModel):
    record: bool
    reason: str | None
    notice: NoticeOut
    objection_digit: str


class Accepted(BaseModel):
    id: str
    status_url: str


class UploadStatus(BaseModel):
    id: str
    state: str = Field(description="queued | stored | rejected")
    detail: str | None


class EventOut(BaseModel):
    platform_call_id: str
    event: str
    outcome: str


FORM = "application/x-www-form-urlencoded"
MAX_DECISION_BODY = 16 * 1024
INCOMING_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": IncomingCall.model_json_schema()},
            # Asterisk's dialplan CURL(url,post-data) sends this (docs/platforms.md)
            FORM: {"schema": IncomingCall.model_json_schema()},
        },
    }
}


async def incoming_body(request: Request) -> IncomingCall:
    """The decision's fields from a JSON object or a form-encoded body, validated alike."""
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype not in ("application/json", FORM):
        raise UnsupportedMediaType(f"send application/json or {FORM}, not {ctype or 'nothing'!r}")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_DECISION_BODY:
        raise TooLarge(f"a decision request is at most {MAX_DECISION_BODY} bytes")
    raw = await request.body()
    try:
        if ctype == "application/json":
            return IncomingCall.model_validate_json(raw)
        return IncomingCall.model_validate(form_fields(raw))
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


def form_fields(raw: bytes) -> dict[str, str]:
    """application/x-www-form-urlencoded → fields; a repeated field or bad encoding is refused
    (which of two values would count is not ours to guess)."""
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=16)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadInput(f"the form body cannot be read: {exc}") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise BadInput(f"{name}: given more than once")
        fields[name] = value
    return fields


@router.post(
    "/incoming-call",
    response_model=DecisionOut,
    responses=_problems(400, 401, 403, 413, 415),
    openapi_extra=INCOMING_BODY,
)
async def incoming_call(request: Request, _user: PlatformUser) -> Response:
    """May this caller be recorded, and which notice is played? Opens the consent record.

    The body is JSON or, as Asterisk's CURL() sends it, form-encoded: the same fields."""
    body = await incoming_body(request)
    decider = hooks(request).decider
    d = await anyio.to_thread.run_sync(
        decider.decide, body.platform_call_id, body.caller, body.dialled
    )
    n = d.notice
    out = {  # the DecisionOut shape, answered without a second validation
        "record": d.record,
        "reason": d.reason,
        "notice": {
            "id": n.id,
            "version": n.version,
            "language": n.language,
            "duration_s": round(n.duration_s, 2),
            "audio_url": str(request.base_url).rstrip("/") + _audio_path(request, n.id, n.version),
        },
        "objection_digit": d.objection_digit,
    }
    return JSONResponse(out)


_AUDIO_PATHS: dict[tuple[str, str], str] = {}


def _audio_path(request: Request, notice_id: str, version: str) -> str:
    """The notice audio's path, found among the app's routes once per notice (url_for walks
    every route of the portal on each call)."""
    key = (notice_id, version)
    if key not in _AUDIO_PATHS:
        path = request.app.url_path_for("notice_audio", notice_id=notice_id, version=version)
        _AUDIO_PATHS[key] = str(path)
    return _AUDIO_PATHS[key]


@open_router.get(
    "/notices/{notice_id}/{version}/audio",
    response_class=FileResponse,
    responses={200: {"content": {"audio/wav": {}}}, **_problems(404)},
)
def notice_audio(request: Request, notice_id: str, version: str) -> FileResponse:
    """The notice's audio (PCM WAV). Open: it is what every caller hears, and a platform's
    player (Twilio <Play>, Asterisk) fetches it without credentials."""
    n = hooks(request).decider.notice(notice_id, version)
    if n is None:
        raise NotFound(f"no notice {notice_id!r} version {version!r}")
    return FileResponse(n.file, media_type="audio/wav", headers={"Cache-Control": "max-age=300"})


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["manifest", "audio"],
                    "properties": {
                        "manifest": {
                            "type": "string",
                            "description": "JSON: platform_call_id, caller, service, agent, "
                            "case_ids, started_at, consent",
                        },
                        "audio": {"type": "string", "format": "binary"},
                    },
                },
                "encoding": {"manifest": {"contentType": "application/json"}},
            }
        },
    }
}


@router.post(
    "/recordings",
    status_code=202,
    response_model=Accepted,
    responses=_problems(400, 401, 403, 409, 413, 422),
    openapi_extra=UPLOAD_BODY,
)
async def upload(
    request: Request,
    user: PlatformUser,
    idempotency_key: Annotated[str | None, Header(max_length=300)] = None,
) -> Response:
    """Audio + manifest → an ingest job, durable in the spool before the 202."""
    svc = hooks(request).uploads
    key = check_key(idempotency_key)
    ctype = request.headers.get("content-type", "")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > svc.limits.max_bytes:
        raise UploadTooLarge(f"the upload is {length} bytes; the limit is {svc.limits.max_bytes}")
    earlier = svc.keys.earlier(user.id, key) if key else None
    if earlier is not None:
        if earlier.response_status is None:
            replay(earlier, "")  # raises 409: the first request is still being answered
        parts = await receive(request.stream(), ctype, None, svc.limits.max_bytes)
        return _reply(replay(earlier, parts.fingerprint))
    upload_id = str(uuid.uuid4())
    svc.keys.claim(upload_id, user.id, key)
    try:
        audio = svc.staging_dir(upload_id) / "audio"
        parts = await receive(request.stream(), ctype, audio, svc.limits.max_bytes)
        answer = await anyio.to_thread.run_sync(svc.accept, upload_id, parts, audio, user.actor)
    except BaseException:
        await anyio.to_thread.run_sync(svc.abandon, upload_id)
        raise
    return _reply(answer)


def _reply(answer: Answer) -> Response:
    return JSONResponse(answer.body, answer.status, media_type=_media(answer.status))


def _media(status: int) -> str:
    return "application/problem+json" if status >= 400 else "application/json"


@router.get("/recordings/{upload_id}", responses=_problems(401, 403, 404))
def upload_status(request: Request, user: PlatformUser, upload_id: str) -> UploadStatus:
    """Follow an upload to `stored` or `rejected` (only the platform user that uploaded it)."""
    found = hooks(request).uploads.status(upload_id, user.id)
    if found is None:
        raise NotFound(f"no upload {upload_id!r}")
    return UploadStatus(**found)


@router.post("/calls/{platform_call_id}/events", responses=_problems(400, 401, 403, 404))
def call_event(
    request: Request, user: PlatformUser, platform_call_id: str, body: CallEvent
) -> EventOut:
    """A consent fact as it happens: notice-played, objection, pause, resume, case-id, hangup."""
    out = hooks(request).events.record(platform_call_id, body, user.actor)
    return EventOut(**out)
