"""One log line per hook call: method, route (its template, so no call ID), platform user,
status and time taken. Never a number, a case reference or a body."""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("callvault.hooks")


class HookAccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/hooks/"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route: Any = scope.get("route")
            state = scope.get("state") or {}
            log.info(
                "hook %s %s by %s: %d in %.1f ms",
                scope["method"],
                getattr(route, "path", "?"),
                state.get("hook_user", "-"),
                status[0],
                (time.perf_counter() - started) * 1000,
            )
