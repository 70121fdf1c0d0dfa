"""The DPO's pages for data-subject requests: the list with due dates, opening one, a request
with what it found, its transitions, the pack download and the two-person erasure."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from consent.requests import KINDS
from portal.auth.principal import Principal
from portal.deps import CurrentUser
from portal.errors import Forbidden
from portal.requests_service import MOVES, PortalRequests, Requests
from portal.routes.disclosures_pages import words
from portal.routes.requests_api import pack_response
from portal.templating import render
from storage.errors import CallvaultError, NotFoundError

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form(max_length=2000)]


@router.get("/requests")
def list_page(
    request: Request, reqs: Requests, user: CurrentUser, due_within: str = ""
) -> Response:
    days = int(due_within) if due_within.isdigit() else None
    items = reqs.list(user, None, days)
    return _list(request, items, due_within, {}, None, 200)


def _list(
    request: Request,
    items: list[dict[str, Any]],
    due_within: str,
    v: dict[str, str],
    error: str | None,
    status: int,
) -> Response:
    return render(
        request, "requests.html", status, items=items, due_within=due_within, v=v,
        KINDS=KINDS, error=error,
    )  # fmt: skip


@router.post("/requests")
def open_page(
    request: Request,
    reqs: Requests,
    user: CurrentUser,
    kind: Annotated[str, Form(max_length=32)] = "",
    callers: Text = "",
    case_ids: Text = "",
    received: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    values = {"kind": kind, "callers": callers, "case_ids": case_ids, "received": received}
    try:
        when = date.fromisoformat(received) if received else None
        numbers = [n.strip() for n in callers.splitlines() if n.strip()]
        view = reqs.open(user, kind, numbers, words(case_ids), received=when)
    except Forbidden:
        raise
    except (CallvaultError, ValueError) as exc:  # shown on the form, with what was typed
        return _list(request, reqs.list(user), "", values, str(exc), 400)
    return RedirectResponse(f"/requests/{view['id']}", status_code=303)


@router.get("/requests/{request_id}")
def show_page(request: Request, reqs: Requests, user: CurrentUser, request_id: str) -> Response:
    return _show(request, reqs, user, request_id, None, 200)


def _show(
    request: Request,
    reqs: PortalRequests,
    user: Principal,
    request_id: str,
    error: str | None,
    status: int,
) -> Response:
    r = reqs.show(user, request_id)
    pending = [d for d in r["decisions"] if d["decision"] == "erase" and d["state"] == "proposed"]
    return render(
        request, "requests_show.html", status, r=r, pending=pending, error=error,
        me=user.actor,
    )  # fmt: skip


def _then_show(
    request: Request,
    reqs: PortalRequests,
    user: Principal,
    request_id: str,
    act: Callable[[], object],
) -> Response:
    """Do it, then back to the request; what was wrong is shown on its page."""
    try:
        act()
    except (NotFoundError, Forbidden):
        raise
    except CallvaultError as exc:
        return _show(request, reqs, user, request_id, str(exc), 400)
    return RedirectResponse(f"/requests/{request_id}", status_code=303)


@router.post("/requests/{request_id}/move/{action}")
def move_page(
    request: Request,
    reqs: Requests,
    user: CurrentUser,
    request_id: str,
    action: str,
    how: Text = "",
    months: Annotated[str, Form(max_length=2)] = "",
    reason: Text = "",
) -> Response:
    if action not in MOVES:
        raise NotFoundError(f"no request action {action!r}")
    n = int(months) if months.isdigit() else None

    def act() -> object:
        return reqs.move(user, request_id, action, how=how, months=n, reason=reason)

    return _then_show(request, reqs, user, request_id, act)


@router.post("/requests/{request_id}/decide/{decision}")
def decide_page(
    request: Request,
    reqs: Requests,
    user: CurrentUser,
    request_id: str,
    decision: str,
    reason: Text = "",
    recordings: Annotated[str, Form(max_length=20000)] = "",
) -> Response:
    if decision not in ("erase", "keep", "restrict"):
        raise NotFoundError(f"no decision {decision!r} (erase, keep or restrict)")

    def act() -> object:
        return reqs.decide(user, request_id, decision, reason, words(recordings))

    return _then_show(request, reqs, user, request_id, act)


@router.post("/requests/{request_id}/approve")
def approve_page(
    request: Request,
    reqs: Requests,
    user: CurrentUser,
    request_id: str,
    recordings: Annotated[list[str] | None, Form()] = None,
) -> Response:
    def act() -> object:
        try:
            return reqs.approve(user, request_id, recordings or [])
        except Forbidden as exc:  # self-approval: said on the page, not an error page
            raise CallvaultError(str(exc)) from None

    return _then_show(request, reqs, user, request_id, act)


@router.post("/requests/{request_id}/pack")
def pack_page(
    request: Request,
    reqs: Requests,
    user: CurrentUser,
    request_id: str,
    both_channels: Annotated[str, Form(max_length=3)] = "",
    reason: Text = "",
) -> Response:
    try:
        return pack_response(reqs, user, request_id, both_channels == "yes", reason or None)
    except (NotFoundError, Forbidden):
        raise
    except CallvaultError as exc:
        return _show(request, reqs, user, request_id, str(exc), 400)
