"""The DPO's pages: the disclosure register (list, "record a disclosure", which answers with
the recipient's package) and the restrict / lift / rectify forms of the recording page."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from consent.disclosures import KINDS, DisclosureRequest
from consent.rectification import Change
from portal.auth.principal import Principal
from portal.deps import Ctx, CurrentUser
from portal.errors import Forbidden, NotFound
from portal.rights import PortalRights, Rights
from portal.routes.recording_pages import page_values
from portal.templating import render
from storage.errors import CallvaultError, NotFoundError

router = APIRouter(include_in_schema=False)
_SPLIT = re.compile(r"[\s,]+")
Text = Annotated[str, Form(max_length=2000)]


def words(text: str) -> list[str]:
    """IDs typed one per line or separated by commas."""
    return [w for w in _SPLIT.split(text) if w]


def package_response(rights: PortalRights, user: Principal, req: DisclosureRequest) -> Response:
    plan, chunks = rights.disclose(user, req)
    headers = {
        "Content-Disposition": f'attachment; filename="disclosure-{plan.id}.zip"',
        "Cache-Control": "no-store",
        "X-Disclosure-Id": plan.id,
        "X-Manifest-SHA256": plan.manifest_sha256,
    }
    return StreamingResponse(chunks, media_type="application/zip", headers=headers)


@router.get("/disclosures")
def register_page(
    request: Request,
    rights: Rights,
    user: CurrentUser,
    recording: str | None = None,
    recipient: str | None = None,
) -> Response:
    items = rights.disclosures(user, recording or None, recipient or None)
    return render(
        request,
        "disclosures.html",
        items=items,
        recording=recording or "",
        recipient=recipient or "",
    )


@router.get("/disclosures/new")
def new_page(request: Request, rights: Rights, user: CurrentUser, recording: str = "") -> Response:
    rights.require(user)
    return _form(request, {"recordings": recording}, None, 200)


def _form(request: Request, values: dict[str, str], error: str | None, status: int) -> Response:
    return render(request, "disclosures_new.html", status, v=values, KINDS=KINDS, error=error)


@router.post("/disclosures")
def record_disclosure(
    request: Request,
    rights: Rights,
    user: CurrentUser,
    recipient: Text = "",
    kind: Annotated[str, Form(max_length=32)] = "",
    basis: Text = "",
    reference: Text = "",
    reason: Text = "",
    recordings: Annotated[str, Form(max_length=20000)] = "",
    case_ids: Text = "",
) -> Response:
    values = dict(
        recipient=recipient,
        kind=kind,
        basis=basis,
        reference=reference,
        reason=reason,
        recordings=recordings,
        case_ids=case_ids,
    )
    req = DisclosureRequest(
        recipient, kind, basis, reference, reason, words(recordings), words(case_ids)
    )
    try:
        return package_response(rights, user, req)
    except Forbidden:
        raise
    except CallvaultError as exc:  # what was wrong, on the form, with what was typed
        return _form(request, values, str(exc), 400)


def _on_recording(
    request: Request, ctx: Ctx, user: Principal, recording_id: str, act: Callable[[], object]
) -> Response:
    """Do it, then back to the recording page; what was wrong is shown on the page."""
    try:
        act()
    except (Forbidden, NotFound, NotFoundError):
        raise
    except CallvaultError as exc:
        details = ctx.portal_recordings.details(user, recording_id)
        values = page_values(user, details, None, str(exc))
        return render(request, "recording.html", 400, **values)
    return RedirectResponse(f"/recordings/{recording_id}#rights", status_code=303)


@router.post("/recordings/{recording_id}/restrict")
@router.post("/recordings/{recording_id}/unrestrict")
def restriction(
    request: Request,
    ctx: Ctx,
    rights: Rights,
    user: CurrentUser,
    recording_id: str,
    reason: Text = "",
) -> Response:
    """Restrict, or (at …/unrestrict) lift the restriction."""
    do = rights.lift if request.url.path.endswith("/unrestrict") else rights.restrict
    return _on_recording(request, ctx, user, recording_id, partial(do, user, recording_id, reason))


@router.post("/recordings/{recording_id}/rectify")
def rectify(
    request: Request,
    ctx: Ctx,
    rights: Rights,
    user: CurrentUser,
    recording_id: str,
    service: Annotated[str, Form(max_length=200)] = "",
    add_case_id: Annotated[str, Form(max_length=200)] = "",
    remove_case_id: Annotated[str, Form(max_length=200)] = "",
    statement: Text = "",
    reason: Text = "",
) -> Response:
    given = (
        ("service", service),
        ("add-case-id", add_case_id),
        ("remove-case-id", remove_case_id),
        ("statement", statement),
    )
    changes = [Change(kind, value) for kind, value in given if value.strip()]
    act = partial(rights.rectify, user, recording_id, changes, reason)
    return _on_recording(request, ctx, user, recording_id, act)
