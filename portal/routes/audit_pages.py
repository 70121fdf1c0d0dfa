"""The audit viewer page (auditor, DPO)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from portal.audit_view import AuditQuery, audit_verdict, events
from portal.deps import Ctx, CurrentUser
from portal.errors import BadInput, PortalError
from portal.forms import parse_time
from portal.templating import render

router = APIRouter(include_in_schema=False)


def audit_query(p: dict[str, str]) -> AuditQuery:
    f = {k: v.strip() for k, v in p.items() if v and v.strip()}
    try:
        before = int(f["before_seq"]) if "before_seq" in f else None
        limit = int(f.get("limit", "100"))
    except ValueError:
        raise BadInput("before_seq and limit must be whole numbers") from None
    if before is not None and not 1 <= before < 2**63:  # the column is a 64-bit integer
        raise BadInput("before_seq must be between 1 and 2^63 - 1")
    return AuditQuery(
        recording_id=f.get("recording_id"),
        actor=f.get("actor"),
        action=f.get("action"),
        since=parse_time("since", f["since"], False) if "since" in f else None,
        until=parse_time("until", f["until"], True) if "until" in f else None,
        before_seq=before,
        limit=limit,
    )


@router.get("/audit")
def audit_page(request: Request, ctx: Ctx, user: CurrentUser) -> Response:
    fields = dict(request.query_params)
    values: dict[str, object] = {"fields": fields, "items": [], "next_seq": None, "error": None}
    status = 200
    try:
        q = audit_query(fields)
        with ctx.catalogue.session() as s:
            values["items"], values["next_seq"] = events(s, user, q)
            values["chain"] = audit_verdict(s).summary()
    except PortalError as exc:
        values["error"], status, values["chain"] = str(exc), exc.status, None
        if exc.status == 403:
            raise
    return render(request, "audit.html", status, **values)
