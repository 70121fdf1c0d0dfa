"""Errors as RFC 9457 problem details on /api (and for machines), as pages for browsers."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from portal.deps import PasswordChangeRequired
from portal.errors import NotAuthenticated, PortalError, Unsatisfiable
from portal.templating import render
from storage.errors import CallvaultError, IntegrityError, NotFoundError

log = logging.getLogger("callvault.portal")
PROBLEM_TYPE = "application/problem+json"


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/hooks/")) or "authorization" in request.headers


def problem(request: Request, status: int, title: str, detail: str) -> Response:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if _wants_json(request) or request.url.path.startswith("/audio/"):
        body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
        return JSONResponse(body, status, headers=headers, media_type=PROBLEM_TYPE)
    if status == 401:
        return RedirectResponse("/login", status_code=303)
    if isinstance(getattr(request.state, "error", None), PasswordChangeRequired):
        return RedirectResponse("/password", status_code=303)
    resp = render(request, "error.html", status, title=title, detail=detail)
    resp.headers.update(headers)
    return resp


def install(app: FastAPI) -> None:
    @app.exception_handler(PortalError)
    async def portal_error(request: Request, exc: PortalError) -> Response:
        request.state.error = exc
        resp = problem(request, exc.status, exc.title, str(exc))
        if isinstance(exc, Unsatisfiable):
            resp.headers["Content-Range"] = f"bytes */{exc.size}"
        return resp

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> Response:
        return problem(request, 404, "Not found", str(exc))

    @app.exception_handler(IntegrityError)
    async def integrity(request: Request, exc: IntegrityError) -> Response:
        log.error("integrity failure on %s: %s", request.url.path, exc)
        return problem(request, 500, "Stored audio failed verification", str(exc))

    @app.exception_handler(CallvaultError)
    async def callvault_error(request: Request, exc: CallvaultError) -> Response:
        return problem(request, 400, "Bad request", str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            parts.append(f"{where}: {e.get('msg')}")
        return problem(request, 400, "Invalid request", "; ".join(parts) or "invalid request")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return problem(request, exc.status_code, str(exc.detail), str(exc.detail))


__all__ = ["NotAuthenticated", "install"]
