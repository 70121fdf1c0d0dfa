"""The recording page and what it offers: playback (after a reason), case IDs, download,
the waveform, and the audio stream itself."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from portal import access, stream, waveform
from portal.auth import roles
from portal.auth.principal import Principal
from portal.context import PortalContext
from portal.deps import Ctx, CurrentUser
from portal.errors import BadInput, Forbidden, Gone, NotFound
from portal.grants import REASONS, Grant, not_found
from portal.templating import render
from storage.audit import AuditLog
from storage.errors import CallvaultError, VersionGoneError

router = APIRouter(include_in_schema=False)
audio_router = APIRouter(include_in_schema=False)


@router.get("/recordings/{recording_id}")
def recording_page(
    request: Request, ctx: Ctx, user: CurrentUser, recording_id: str, grant: str | None = None
) -> Response:
    details = ctx.portal_recordings.details(user, recording_id)
    active = None
    if grant:
        try:
            g = ctx.grants.resolve(user, grant)
            active = g if g.recording_id == recording_id else None
        except NotFound:
            active = None
    return _show(request, user, details, active, request.query_params.get("error"), 200)


@router.post("/recordings/{recording_id}/access")
def open_grant(
    request: Request,
    ctx: Ctx,
    user: CurrentUser,
    recording_id: str,
    reason_code: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        g = ctx.grants.open(user, recording_id, reason_code, reason)
    except BadInput as exc:
        return _back_with_error(request, ctx, user, recording_id, str(exc))
    return RedirectResponse(f"/recordings/{recording_id}?grant={g.id}#player", status_code=303)


@router.post("/recordings/{recording_id}/case-ids")
def add_case_id(
    request: Request,
    ctx: Ctx,
    user: CurrentUser,
    recording_id: str,
    case_id: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        ctx.portal_recordings.tag(user, recording_id, case_id, reason)
    except (Forbidden, NotFound):
        raise
    except CallvaultError as exc:  # a bad case ID or a missing reason: say so on the page
        return _back_with_error(request, ctx, user, recording_id, str(exc))
    return RedirectResponse(f"/recordings/{recording_id}", status_code=303)


@router.post("/recordings/{recording_id}/download")
def download(
    ctx: Ctx,
    user: CurrentUser,
    recording_id: str,
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    ctx.portal_recordings.check_visible(user, recording_id, roles.DOWNLOAD)
    if not reason.strip():
        raise BadInput("a download needs a reason (it is written to the audit log)")
    audio = ctx.recordings.open_audio(recording_id)
    # Audited before the first byte leaves.
    with ctx.catalogue.session() as s:
        AuditLog().append(
            s,
            actor=user.actor,
            action="recording.download",
            recording_id=recording_id,
            details={"reason": reason.strip(), "format": audio.format},
        )
    whole = stream.ByteRange(0, audio.length - 1, False)
    headers = stream.headers(whole, audio.length, audio.format)
    ext = "ogg" if audio.format == "opus" else audio.format
    headers["Content-Disposition"] = f'attachment; filename="{recording_id}.{ext}"'
    return StreamingResponse(
        stream.body(audio, whole), headers=headers, background=stream.closing(audio)
    )


@router.get("/recordings/{recording_id}/waveform.svg")
def waveform_svg(ctx: Ctx, user: CurrentUser, recording_id: str) -> Response:
    rec = ctx.portal_recordings.show(user, recording_id)
    if rec["state"] != "stored":
        raise not_found(recording_id)
    left, right = waveform.peaks(
        lambda: ctx.recordings.open_audio(recording_id),
        ctx.config.ffmpeg,
        rec["duration_s"],
        f"{rec['id']}:{rec['sha256_plaintext']}",
    )
    paused = (rec["consent"] or {}).get("paused_intervals") or []
    body = waveform.svg(left, right, rec["duration_s"], paused)
    return Response(body, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


@audio_router.get("/audio/{grant_id}")
def audio(request: Request, ctx: Ctx, user: CurrentUser, grant_id: str) -> Response:
    return audio_response(ctx, user, grant_id, request.headers.get("range"))


def audio_response(ctx: PortalContext, user: Principal, grant_id: str, rng: str | None) -> Response:
    g = ctx.grants.resolve(user, grant_id)
    if g.length <= 0:
        raise not_found(g.recording_id)
    r = stream.parse_range(rng, g.length)
    try:  # the version the grant was opened on, even if a worker has compressed it since
        audio = ctx.recordings.open_audio(g.recording_id, r.start, g.version)
    except VersionGoneError as err:
        raise Gone(str(err)) from None
    return StreamingResponse(
        stream.body(audio, r),
        status_code=206 if r.partial else 200,
        headers=stream.headers(r, g.length, g.format),
        background=stream.closing(audio),
    )


def _back_with_error(
    request: Request, ctx: PortalContext, user: Principal, recording_id: str, error: str
) -> Response:
    details = ctx.portal_recordings.details(user, recording_id)
    return _show(request, user, details, None, error, 400)


def _show(
    request: Request,
    user: Principal,
    details: dict[str, Any],
    grant: Grant | None,
    error: str | None,
    status: int,
) -> Response:
    return render(request, "recording.html", status, **page_values(user, details, grant, error))


def page_values(
    user: Principal, details: dict[str, Any], grant: Grant | None, error: str | None
) -> dict[str, Any]:
    """What every page about one recording shows: the recording, its consent, the grant and
    what this user may do with it (the QA page extends the same values)."""
    rec = details["recording"]
    stored = rec["state"] == "stored"
    return {
        "d": details,
        "r": rec,
        "consent": rec["consent"] or {},
        "grant": grant,
        "error": error,
        "may_play": access.allowed(user, roles.PLAY) and stored,
        "may_tag": access.allowed(user, roles.TAG),
        "may_download": access.allowed(user, roles.DOWNLOAD) and stored,
    }


__all__ = ["REASONS", "audio_router", "router"]
