"""Open routes (visibly): the login form; and the session's own pages: logout, password."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from portal.deps import COOKIE, AnyUser, Ctx
from portal.errors import BadInput, Forbidden, PortalError
from portal.templating import render

open_router = APIRouter(include_in_schema=False)
router = APIRouter(include_in_schema=False)
LOGIN_CSRF = "cv_login"


@open_router.get("/login")
def login_form(request: Request, ctx: Ctx) -> Response:
    token = secrets.token_urlsafe(24)
    resp = render(request, "login.html", login_csrf=token, error=None)
    _cookie(resp, LOGIN_CSRF, token, ctx.config.secure_cookies, max_age=3600)
    return resp


@open_router.post("/login")
def login(
    request: Request,
    ctx: Ctx,
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=100)],
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        raise Forbidden("the login form expired; reload the page and try again")
    try:
        user = ctx.users.login(name, password)
    except PortalError as exc:
        token = secrets.token_urlsafe(24)
        page = render(request, "login.html", exc.status, login_csrf=token, error=str(exc))
        _cookie(page, LOGIN_CSRF, token, ctx.config.secure_cookies, max_age=3600)
        return page
    session_id = ctx.sessions.create(user)
    target = "/password" if user.must_change_password else "/search"
    resp: Response = RedirectResponse(target, status_code=303)
    _cookie(resp, COOKIE, session_id, ctx.config.secure_cookies)
    resp.delete_cookie(LOGIN_CSRF, path="/login")
    return resp


@router.post("/logout")
def logout(request: Request, ctx: Ctx, user: AnyUser) -> Response:
    cookie = request.cookies.get(COOKIE)
    if cookie:
        ctx.sessions.destroy(cookie)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE, path="/")
    return resp


@router.get("/password")
def password_form(request: Request, user: AnyUser) -> Response:
    return render(request, "password.html", error=None, forced=user.must_change_password)


@router.post("/password")
def change_password(
    request: Request,
    ctx: Ctx,
    user: AnyUser,
    current: Annotated[str, Form(max_length=1024)],
    new: Annotated[str, Form(max_length=1024)],
    again: Annotated[str, Form(max_length=1024)],
) -> Response:
    try:
        if new != again:
            raise BadInput("the two new passwords differ")
        ctx.users.change_own_password(user, current, new)
    except PortalError as exc:
        forced = user.must_change_password
        return render(request, "password.html", exc.status, error=str(exc), forced=forced)
    ctx.sessions.destroy_others(user, request.cookies.get(COOKIE, ""))
    return RedirectResponse("/search", status_code=303)


def _cookie(
    resp: Response, name: str, value: str, secure: bool, max_age: int | None = None
) -> None:
    resp.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/login" if name == LOGIN_CSRF else "/",
        httponly=True,
        samesite="strict",
        secure=secure,
    )
