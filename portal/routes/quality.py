"""QA evaluations in the portal: the evaluation section of a recording's page (fill a form,
see the score) and the report page with its server-drawn SVG chart and CSV export.

Visibility goes through portal.access like every other page: a recording outside the user's
services is "not found"; reports only count evaluations of the user's services' calls.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from portal import access
from portal.auth import roles
from portal.auth.principal import Principal
from portal.context import PortalContext
from portal.deps import Ctx, CurrentUser
from portal.errors import BadInput, Forbidden, NotFound
from portal.forms import parse_time
from portal.quality_chart import chart
from portal.quality_forms import answers_from_form, comments_from_text, mmss
from portal.routes.recording_pages import page_values
from portal.templating import render
from quality.evaluations import Evaluations
from quality.library import FormLibrary, form_of, resolve
from quality.reports import GROUPS, PERIODS, ReportRow, report, write_csv
from storage.errors import CallvaultError

router = APIRouter(include_in_schema=False)


@router.get("/recordings/{recording_id}/evaluations")
def evaluations_page(
    request: Request,
    ctx: Ctx,
    user: CurrentUser,
    recording_id: str,
    form: str | None = None,
    grant: str | None = None,
    evaluation: str | None = None,
) -> Response:
    return _page(request, ctx, user, recording_id, form, grant, evaluation, None, 200)


@router.post("/recordings/{recording_id}/evaluations")
async def submit_evaluation(
    request: Request, ctx: Ctx, user: CurrentUser, recording_id: str
) -> Response:
    fields = await request.form()
    ref, grant = str(fields.get("form_ref", "")), str(fields.get("grant", "")) or None

    def submit() -> dict[str, Any]:
        ctx.portal_recordings.check_visible(user, recording_id, roles.EVALUATE)
        with ctx.catalogue.session() as s:
            form = form_of(resolve(s, ref))
        return Evaluations(ctx.catalogue).submit(
            recording_id,
            ref,
            answers_from_form(form, fields),
            comments_from_text(str(fields.get("comments", ""))),
            evaluator=user.name,
            kind="calibration" if fields.get("calibration") == "yes" else "evaluation",
            actor=user.actor,
        )

    try:
        view = await run_in_threadpool(submit)
    except (Forbidden, NotFound):
        raise
    except CallvaultError as exc:  # a missing answer, a comment past the end: say so
        posted = {k: v for k, v in fields.items() if isinstance(v, str)}
        return await run_in_threadpool(
            _page, request, ctx, user, recording_id, ref, grant, None, str(exc), 400, posted
        )
    query = f"evaluation={view['id']}" + (f"&grant={grant}" if grant else "")
    return RedirectResponse(f"/recordings/{recording_id}/evaluations?{query}#qa", status_code=303)


def _page(
    request: Request,
    ctx: PortalContext,
    user: Principal,
    recording_id: str,
    form_ref: str | None,
    grant_id: str | None,
    evaluation_id: str | None,
    error: str | None,
    status: int,
    posted: dict[str, str] | None = None,
) -> Response:
    ctx.portal_recordings.check_visible(user, recording_id, roles.EVALUATE)
    details = ctx.portal_recordings.details(user, recording_id)
    grant = None
    if grant_id:
        try:
            g = ctx.grants.resolve(user, grant_id)
            grant = g if g.recording_id == recording_id else None
        except NotFound:
            grant = None
    evs = Evaluations(ctx.catalogue)
    done = evs.for_recording(recording_id)
    forms = FormLibrary(ctx.catalogue).list_forms()
    chosen = None
    if forms:
        try:
            chosen = FormLibrary(ctx.catalogue).show(form_ref or forms[0]["form"])
        except CallvaultError as exc:
            error = error or str(exc)
    just = next((e for e in done if e["id"] == evaluation_id), None)
    spread = evs.calibration(recording_id) if len({e["evaluator"] for e in done}) > 1 else None
    return render(
        request,
        "quality_recording.html",
        status,
        **page_values(user, details, grant, error),
        evaluations=done,
        forms=forms,
        form=chosen,
        just=just,
        spread=spread,
        mmss=mmss,
        posted=posted or {},
    )


# -- reports -------------------------------------------------------------------------------


def _report_args(user: Principal, params: dict[str, str]) -> dict[str, Any]:
    if not access.allowed(user, roles.QA_REPORTS):
        raise Forbidden(f"role {user.role} has no access to QA reports")
    by, period = params.get("by") or "staff", params.get("period") or "month"
    if by not in GROUPS:
        raise BadInput(f"by {by!r}; allowed: {', '.join(GROUPS)}")
    if period not in PERIODS:
        raise BadInput(f"period {period!r}; allowed: {', '.join(PERIODS)}")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    until = parse_time("until", params["until"], True) if params.get("until") else today
    if not params.get("until"):
        until += timedelta(days=1)
    since = (
        parse_time("since", params["since"], False)
        if params.get("since")
        else until - timedelta(days=182)
    )
    if not since < until:
        raise BadInput("since must be before until")
    return {"by": by, "period": period, "since": since, "until": until}


def _rows(ctx: PortalContext, user: Principal, a: dict[str, Any]) -> list[ReportRow]:
    return report(ctx.catalogue, services=user.services, **a)


@router.get("/qa/report")
def report_page(request: Request, ctx: Ctx, user: CurrentUser) -> Response:
    params = dict(request.query_params)
    a = _report_args(user, params)
    query = "&".join(
        f"{k}={v}"
        for k, v in (
            ("by", a["by"]),
            ("period", a["period"]),
            ("since", a["since"].date().isoformat()),
            ("until", (a["until"] - timedelta(days=1)).date().isoformat()),
        )
    )
    return render(
        request,
        "quality_report.html",
        rows=_rows(ctx, user, a),
        a=a,
        query=query,
        until_shown=(a["until"] - timedelta(days=1)).date().isoformat(),
        GROUPS=GROUPS,
        PERIODS=PERIODS,
    )


@router.get("/qa/report.svg")
def report_chart(request: Request, ctx: Ctx, user: CurrentUser) -> Response:
    a = _report_args(user, dict(request.query_params))
    return Response(chart(_rows(ctx, user, a), a["period"]), media_type="image/svg+xml")


@router.get("/qa/report.csv")
def report_csv(request: Request, ctx: Ctx, user: CurrentUser) -> Response:
    a = _report_args(user, dict(request.query_params))
    out = io.StringIO()
    write_csv(_rows(ctx, user, a), out, by=a["by"], period=a["period"])
    name = f"qa-report-{a['by']}-{a['period']}-{a['since'].date()}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
