"""The search page: GET with filters in the query string, POST for the caller number (which
must never appear in a URL or an access log)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from portal import access
from portal.auth import roles
from portal.deps import Ctx, CurrentUser
from portal.errors import PortalError
from portal.forms import parse_query
from portal.search import search
from portal.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(user: CurrentUser) -> Response:
    target = "/search" if access.allowed(user, roles.SEARCH) else "/audit"
    if not access.allowed(user, roles.SEARCH) and not access.allowed(user, roles.AUDIT):
        target = "/account"
    return RedirectResponse(target, status_code=303)


@router.get("/account")
def account(request: Request, user: CurrentUser) -> Response:
    return render(request, "account.html")


@router.get("/search")
def search_get(request: Request, ctx: Ctx, user: CurrentUser) -> Response:
    return _page(request, ctx, user, dict(request.query_params), None)


@router.post("/search")
async def search_post(request: Request, ctx: Ctx, user: CurrentUser) -> Response:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    return _page(request, ctx, user, fields, fields.get("caller"))


def _page(
    request: Request, ctx: Ctx, user: CurrentUser, fields: dict[str, Any], caller: str | None
) -> Response:
    values: dict[str, Any] = {"fields": fields, "caller": caller or "", "page": None, "error": None}
    status = 200
    try:
        q = parse_query(fields, ctx.caller_hash, caller=caller)
        with ctx.catalogue.session() as s:
            values["page"] = search(s, user, q)
        values["consent_only"] = q.consent_only
    except PortalError as exc:
        values["error"], status = str(exc), exc.status
        values["consent_only"] = False
    values["may_consent_only"] = access.allowed(user, roles.CONSENT_ONLY)
    return render(request, "search.html", status, **values)
