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

    def principal(self, token: str) -> Principal:
        key = token_hash(token)
        now = self.clock()
        with self._lock:
            hit = self._known.get(key)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        user = self.users.by_token(token)  # NotAuthenticated for a bad or revoked token
        with self._lock:
            if len(self._known) > 10_000:
                self._known.clear()
            self._known[key] = (now, user)
        return user


def platform_user(request: Request) -> Principal:
    """The platform calling, from its bearer token; a session cookie is not accepted here."""
    cache: TokenCache = request.app.state.hooks.tokens
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        if COOKIE in request.cookies:
            raise Forbidden("the platform hooks take a bearer token, not a portal session")
        raise NotAuthenticated("the platform hooks need Authorization: Bearer <token>")
    user = cache.principal(auth[7:].strip())
    if not allowed(user, roles.HOOKS):
        raise Forbidden(f"role {user.role} may not call the platform hooks (only platform)")
    request.state.hook_user = user.name
    return user


PlatformUser = Annotated[Principal, Depends(platform_user)]
