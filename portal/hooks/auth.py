"""Who may call /hooks/v1: a bearer token of a `platform` user, and nobody else.

A decision must be answered in milliseconds, so a token's answer is kept for `ttl_s` (5 s by
default): a token revoked or a user disabled is refused at most that long after. Only the
SHA-256 of a token is used as the key, as in the catalogue.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Annotated

import anyio
from fastapi import Depends, Request

from portal.access import allowed
from portal.auth import roles
from portal.auth.principal import Principal
from portal.auth.users import Users, token_hash
from portal.deps import COOKIE
from portal.errors import Forbidden, NotAuthenticated


class TokenCache:
    def __init__(
        self, users: Users, ttl_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.users = users
        self.ttl_s = ttl_s
        self.clock = clock
        self._lock = threading.Lock()
        self._known: dict[str, tuple[float, Principal]] = {}

    def cached(self, token: str) -> Principal | None:
        """The token's answer if it is fresh, without a database round trip; else None."""
        with self._lock:
            hit = self._known.get(token_hash(token))
        if hit is not None and self.clock() - hit[0] < self.ttl_s:
            return hit[1]
        return None

    def principal(self, token: str) -> Principal:
        hit = self.cached(token)
        if hit is not None:
            return hit
        key = token_hash(token)
        now = self.clock()
        user = self.users.by_token(token)  # NotAuthenticated for a bad or revoked token
        with self._lock:
            if len(self._known) > 10_000:
                self._known.clear()
            self._known[key] = (now, user)
        return user


async def platform_user(request: Request) -> Principal:
    """The platform calling, from its bearer token; a session cookie is not accepted here.

    On the event loop: a cached token costs no thread hop; a lookup goes to a thread."""
    cache: TokenCache = request.app.state.hooks.tokens
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        if COOKIE in request.cookies:
            raise Forbidden("the platform hooks take a bearer token, not a portal session")
        raise NotAuthenticated("the platform hooks need Authorization: Bearer <token>")
    token = auth[7:].strip()
    user = cache.cached(token)
    if user is None:
        user = await anyio.to_thread.run_sync(cache.principal, token)
    if not allowed(user, roles.HOOKS):
        raise Forbidden(f"role {user.role} may not call the platform hooks (only platform)")
    request.state.hook_user = user.name
    return user


PlatformUser = Annotated[Principal, Depends(platform_user)]
