"""Security headers on every answer (pure ASGI middleware) and the cross-origin check on every
state-changing request, before any route runs."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "media-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in _SAFE and not _same_origin(scope):
            response = PlainTextResponse("cross-origin request refused", status_code=403)
            await response(scope, receive, self._with_headers(scope, send))
            return
        await self.app(scope, receive, self._with_headers(scope, send))

    def _with_headers(self, scope: Scope, send: Send) -> Send:
        static = scope["path"].startswith("/static/")
        tls = scope.get("scheme") == "https"

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                h = MutableHeaders(scope=message)
                h["Content-Security-Policy"] = CSP
                h["X-Content-Type-Options"] = "nosniff"
                h["Referrer-Policy"] = "no-referrer"
                h["X-Frame-Options"] = "DENY"
                h["Cross-Origin-Opener-Policy"] = "same-origin"
                h["Cross-Origin-Resource-Policy"] = "same-origin"
                h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
                if tls:
                    h["Strict-Transport-Security"] = "max-age=31536000"
                if "cache-control" not in h:
                    # Every page but the static assets shows personal data.
                    h["Cache-Control"] = "no-cache" if static else "no-store"
            await send(message)

        return wrapped


def _same_origin(scope: Scope) -> bool:
    """Refuse a state-changing request that a browser says came from another site.

    Sec-Fetch-Site decides when sent: under `Referrer-Policy: no-referrer` browsers send
    `Origin: null` even for same-origin form posts, so Origin is only the fallback."""
    h = Headers(scope=scope)
    site = h.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = h.get("origin")
    if origin is None:
        return True  # not a browser (or an old one): the CSRF token still applies
    return urlsplit(origin).netloc == h.get("host", "")
