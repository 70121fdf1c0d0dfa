"""Browser sessions kept in the catalogue: the cookie carries a random id, the table its hash.

A session ends after `idle_timeout` without a request, at logout, or when its user is disabled.
Each session has its own CSRF token, checked on every state-changing form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from portal.auth.principal import Principal
from storage.catalogue.db import Catalogue
from storage.catalogue.models import PortalSession, PortalUser
from storage.clock import utcnow

# Refresh last_seen_at at most this often, so every request is not a write.
_TOUCH_EVERY = timedelta(seconds=30)


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class SessionInfo:
    user: Principal
    csrf_token: str

    def csrf_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented, self.csrf_token)


class Sessions:
    def __init__(
        self,
        catalogue: Catalogue,
        *,
        idle_timeout: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.catalogue = catalogue
        self.idle_timeout = idle_timeout
        self.clock = clock

    def create(self, user: Principal) -> str:
        """A new session for user; returns the cookie value (never stored)."""
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        with self.catalogue.session() as s:
            s.execute(
                delete(PortalSession).where(PortalSession.last_seen_at < now - self.idle_timeout)
            )
            s.add(
                PortalSession(
                    id_hash=_hash(session_id),
                    user_id=user.id,
                    csrf_token=secrets.token_urlsafe(32),
                    created_at=now,
                    last_seen_at=now,
                )
            )
        return session_id

    def lookup(self, session_id: str) -> SessionInfo | None:
        now = self.clock()
        with self.catalogue.session() as s:
            found = s.execute(
                select(PortalSession, PortalUser)
                .join(PortalUser, PortalUser.id == PortalSession.user_id)
                .where(PortalSession.id_hash == _hash(session_id))
            ).first()
            if found is None:
                return None
            sess, row = found
            if row.disabled_at is not None or now - sess.last_seen_at > self.idle_timeout:
                s.delete(sess)
                return None
            if now - sess.last_seen_at > _TOUCH_EVERY:
                sess.last_seen_at = now
            return SessionInfo(Principal.of(row), sess.csrf_token)

    def destroy(self, session_id: str) -> None:
        with self.catalogue.session() as s:
            s.execute(delete(PortalSession).where(PortalSession.id_hash == _hash(session_id)))

    def destroy_others(self, user: Principal, keep: str) -> None:
        """After a password change, only the session that changed it stays."""
        with self.catalogue.session() as s:
            s.execute(
                delete(PortalSession).where(
                    PortalSession.user_id == user.id, PortalSession.id_hash != _hash(keep)
                )
            )
