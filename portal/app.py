"""The ASGI application: pages, /api/v1 and the audio stream, behind the security headers."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from portal import problems
from portal.context import PortalContext
from portal.deps import any_user, current_user
from portal.hooks.accesslog import HookAccessLog
from portal.hooks.service import HooksService
from portal.routes import (
    api,
    audit_pages,
    auth_pages,
    disclosures_pages,
    health,
    metrics,
    recording_pages,
    requests_api,
    requests_pages,
    rights_api,
    search_pages,
)
from portal.routes import hooks as hook_routes
from portal.routes import quality as quality_pages
from portal.security import SecurityHeaders
from portal.timing import ServerTiming

log = logging.getLogger("callvault.portal")


def create_app(ctx: PortalContext, hooks: HooksService | None = None) -> FastAPI:
    app = FastAPI(
        title="callvault API",
        version="1",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # Swagger UI and ReDoc load scripts from a CDN; we serve no CDN assets
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.hooks = hooks
    # Open routes, visibly: health, login, static assets.
    app.include_router(health.router)
    if hooks is not None:
        # /hooks/v1: platform bearer tokens only (each route asks portal.hooks.auth); the
        # notice audio is open (every caller hears it; platforms fetch it without a token).
        # First after health: a decision is matched before the portal's other routes.
        app.include_router(hook_routes.open_router)
        app.include_router(hook_routes.router)
    app.include_router(auth_pages.open_router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    # Everything else is authenticated by default.
    signed_in = [Depends(any_user)]
    app.include_router(auth_pages.router, dependencies=signed_in)
    authed = [Depends(current_user)]
    for r in (search_pages.router, recording_pages.router, recording_pages.audio_router):
        app.include_router(r, dependencies=authed)
    app.include_router(audit_pages.router, dependencies=authed)
    app.include_router(quality_pages.router, dependencies=authed)
    app.include_router(api.router, dependencies=authed)
    app.include_router(disclosures_pages.router, dependencies=authed)
    app.include_router(rights_api.router, dependencies=authed)
    app.include_router(requests_pages.router, dependencies=authed)
    app.include_router(requests_api.router, dependencies=authed)
    app.include_router(metrics.router, dependencies=authed)  # admin and auditor only
    problems.install(app)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(HookAccessLog)
    app.add_middleware(ServerTiming)  # outermost: it times everything inside it
    return app
