"""Request dependencies: the context, the current user (session cookie or bearer token) and
the CSRF check. Routers are authenticated by default; the open routes opt out visibly."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from portal.auth.principal import Principal
from portal.auth.sessions import SessionInfo
from portal.context import PortalContext
from portal.errors import Forbidden, NotAuthenticated

COOKIE = "cv_session"
CSRF_HEADER = "x-csrf-token"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def context(request: Request) -> PortalContext:
    ctx: PortalContext = request.app.state.ctx
    return ctx


Ctx = Annotated[PortalContext, Depends(context)]


def session_info(request: Request, ctx: Ctx) -> SessionInfo | None:
    if "session" not in request.state._state:
        cookie = request.cookies.get(COOKIE)
        request.state.session = ctx.sessions.lookup(cookie) if cookie else None
    info: SessionInfo | None = request.state.session
    return info


Session = Annotated[SessionInfo | None, Depends(session_info)]


async def any_user(request: Request, ctx: Ctx, sess: Session) -> Principal:
    """The user, including one who must change the password first."""
    auth = request.headers.get("authorization", "")
    if request.method in _UNSAFE and sess is not None:
        # The cookie was sent, so a browser may have been tricked: the token is required
        # whatever else (a bearer token) the request carries.
        presented = request.headers.get(CSRF_HEADER) or await form_token(request)
        if not sess.csrf_ok(presented):
            raise Forbidden("missing or wrong CSRF token")
    if auth.lower().startswith("bearer "):
        return ctx.users.by_token(auth[7:].strip())
    if sess is None:
        raise NotAuthenticated("log in first")
    return sess.user


async def form_token(request: Request) -> str | None:
    """The csrf_token field of a form body (Starlette caches the parsed form for the route)."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    value = (await request.form()).get("csrf_token")
    return value if isinstance(value, str) else None


def current_user(user: Annotated[Principal, Depends(any_user)]) -> Principal:
    if user.must_change_password:
        raise PasswordChangeRequired("change your one-time password first")
    return user


class PasswordChangeRequired(Forbidden):
    title = "Password change required"


CurrentUser = Annotated[Principal, Depends(current_user)]
AnyUser = Annotated[Principal, Depends(any_user)]
