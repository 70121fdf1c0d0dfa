"""`Server-Timing: app;dur=…` on every answer: the time from the request reaching the app to the
start of its answer, in milliseconds (pure ASGI middleware).

For a JSON or HTML answer that is the whole server-side time (the body is built before the
headers go out); for the audio stream it is the time to the headers, and the first body byte
follows the seek. Browsers show it in their developer tools and bench/portal.py reads it, so
the server-side figure is measured by the server rather than guessed from a client round trip.
It names no route and no data, only a duration.
"""

from __future__ import annotations

import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ServerTiming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - start) * 1000
                MutableHeaders(scope=message).append("Server-Timing", f"app;dur={ms:.1f}")
            await send(message)

        await self.app(scope, receive, wrapped)


def app_duration_ms(header: str | None) -> float | None:
    """The `app` duration of a Server-Timing header, or None when there is none."""
    for metric in (header or "").split(","):
        name, _, params = metric.strip().partition(";")
        if name.strip() != "app":
            continue
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "dur":
                try:
                    return float(value)
                except ValueError:
                    return None
    return None
