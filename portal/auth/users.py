"""Portal users: add, list, disable, change password or role, issue tokens, log in.

Every login, failed login, role change and token issue is written to the audit log in the
same transaction as the change; passwords and tokens never appear in its details.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from portal.auth import roles
from portal.auth.passwords import hash_password, one_time_password, verify_password
from portal.auth.principal import Principal, services_of
from portal.errors import BadInput, NotAuthenticated, NotFound, Throttled
from storage.audit import AuditLog
from storage.catalogue.db import Catalogue
from storage.catalogue.models import LoginFailure, PortalSession, PortalToken, PortalUser
from storage.clock import utcnow

_TOKEN_TOUCH_EVERY = timedelta(seconds=60)
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
BOOTSTRAP_ADMIN = "admin"


def token_hash(token: str) -> str:
    """Tokens are 256-bit random strings, so a plain SHA-256 is enough to keep only a hash."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Throttle:
    """After `max_failures` failed logins for a name within `window`, refuse it until they age."""

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)


def user_view(row: PortalUser) -> dict[str, Any]:
    services = services_of(row)
    return {
        "name": row.name,
        "role": row.role,
        "services": sorted(services) if services is not None else None,
        "may_download": row.may_download,
        "disabled": row.disabled_at is not None,
        "must_change_password": row.must_change_password,
        "created_at": row.created_at.isoformat(),
    }


class Users:
    """The user directory; owns nothing (the composition root closes the catalogue)."""

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] = utcnow,
        throttle: Throttle = Throttle(),
    ) -> None:
        self.catalogue = catalogue
        self.clock = clock
        self.audit = audit or AuditLog(clock)
        self.throttle = throttle

    # -- administration -------------------------------------------------------------------

    def add(
        self,
        name: str,
        role: str,
        *,
        services: builtins.list[str] | None = None,
        password: str | None = None,
        may_download: bool = False,
        must_change_password: bool = False,
        actor: str,
    ) -> dict[str, Any]:
        _check_name(name)
        scope = _check_role(role, services)
        pw_hash = hash_password(password) if password is not None else None
        with self.catalogue.session() as s:
            if s.scalar(select(PortalUser.id).where(PortalUser.name == name)) is not None:
                raise BadInput(f"user {name!r} already exists")
            row = PortalUser(
                name=name,
                role=role,
                services=scope,
                may_download=may_download,
                password_hash=pw_hash,
                must_change_password=must_change_password,
                created_at=self.clock(),
                password_changed_at=self.clock() if pw_hash else None,
            )
            s.add(row)
            s.flush()
            details = {"user": name, "role": role, "services": services, "download": may_download}
            self.audit.append(s, actor=actor, action="portal.user.add", details=details)
            return user_view(row)

    def list(self) -> builtins.list[dict[str, Any]]:
        with self.catalogue.session() as s:
            return [user_view(r) for r in s.scalars(select(PortalUser).order_by(PortalUser.name))]

    def get(self, name: str) -> dict[str, Any]:
        with self.catalogue.session() as s:
            return user_view(self._row(s, name))

    def set_role(
        self, name: str, role: str, *, services: builtins.list[str] | None = None, actor: str
    ) -> dict[str, Any]:
        scope = _check_role(role, services)
        with self.catalogue.session() as s:
            row = self._row(s, name)
            before = {"role": row.role, "services": row.services and json.loads(row.services)}
            row.role, row.services = role, scope
            self.audit.append(
                s,
                actor=actor,
                action="portal.user.role",
                details={"user": name, "from": before, "role": role, "services": services},
            )
            return user_view(row)

    def disable(self, name: str, *, actor: str) -> dict[str, Any]:
        with self.catalogue.session() as s:
            row = self._row(s, name)
            if row.disabled_at is None:
                row.disabled_at = self.clock()
                s.execute(delete(PortalToken).where(PortalToken.user_id == row.id))
                s.execute(delete(PortalSession).where(PortalSession.user_id == row.id))
                self.audit.append(
                    s, actor=actor, action="portal.user.disable", details={"user": name}
                )
            return user_view(row)

    def set_password(
        self, name: str, password: str, *, actor: str, temporary: bool = False
    ) -> None:
        """A new password; `temporary` ones must be changed at the next login."""
        pw_hash = hash_password(password)
        with self.catalogue.session() as s:
            row = self._row(s, name)
            row.password_hash = pw_hash
            row.must_change_password = temporary
            row.password_changed_at = self.clock()
            self.audit.append(
                s,
                actor=actor,
                action="portal.user.passwd",
                details={"user": name, "temporary": temporary},
            )

    def issue_token(self, name: str, *, label: str, actor: str) -> str:
        """A new bearer token, returned once; only its hash is stored."""
        label = label.strip() or "token"
        if len(label) > 120 or not label.isprintable():
            raise BadInput("a token label must be 1..120 printable characters")
        token = "cvt_" + secrets.token_urlsafe(32)
        with self.catalogue.session() as s:
            row = self._row(s, name)
            if row.disabled_at is not None:
                raise BadInput(f"user {name!r} is disabled")
            tok = PortalToken(
                user_id=row.id, label=label, token_hash=token_hash(token), created_at=self.clock()
            )
            s.add(tok)
            s.flush()
            self.audit.append(
                s,
                actor=actor,
                action="portal.token.issue",
                details={"user": name, "label": label, "token_id": tok.id},
            )
        return token

    def bootstrap_admin(self, *, actor: str) -> str | None:
        """On a catalogue with no users: `admin` with a one-time password (returned once)."""
        with self.catalogue.session() as s:
            if s.scalar(select(func.count()).select_from(PortalUser)):
                return None
        password = one_time_password()
        self.add(
            BOOTSTRAP_ADMIN, roles.ADMIN, password=password, must_change_password=True, actor=actor
        )
        return password

    # -- authentication -------------------------------------------------------------------

    def login(self, name: str, password: str) -> Principal:
        """The user, or NotAuthenticated (one message whatever was wrong) or Throttled."""
        now = self.clock()
        name = name.strip().lower()[:64]
        with self.catalogue.session() as s:
            recent = s.scalar(
                select(func.count())
                .select_from(LoginFailure)
                .where(LoginFailure.name == name, LoginFailure.at > now - self.throttle.window)
            )
            if recent is not None and recent >= self.throttle.max_failures:
                self._failed(s, name, "throttled", now)
                outcome: Principal | str = "throttled"
            else:
                row = s.scalar(select(PortalUser).where(PortalUser.name == name))
                ok = verify_password(row.password_hash if row else None, password)
                if row is None or not ok or row.disabled_at is not None:
                    why = "disabled" if row is not None and ok else "bad credentials"
                    self._failed(s, name, why, now)
                    outcome = "failed"
                else:
                    s.execute(delete(LoginFailure).where(LoginFailure.name == name))
                    self.audit.append(
                        s, actor=f"portal:{name}", action="portal.login", details={"user": name}
                    )
                    outcome = Principal.of(row)
        # The failure is committed (and audited) before it is reported.
        if outcome == "throttled":
            raise Throttled(
                f"too many failed logins for this name; try again in "
                f"{int(self.throttle.window.total_seconds() // 60)} minutes"
            )
        if isinstance(outcome, str):
            raise NotAuthenticated("unknown name or wrong password")
        return outcome

    def _failed(self, s: Session, name: str, why: str, now: datetime) -> None:
        s.add(LoginFailure(name=name, at=now))
        self.audit.append(
            s,
            actor=f"portal:{name}",
            action="portal.login.failed",
            details={"user": name, "reason": why},
        )

    def by_token(self, token: str) -> Principal:
        with self.catalogue.session() as s:
            found = s.execute(
                select(PortalToken, PortalUser)
                .join(PortalUser, PortalUser.id == PortalToken.user_id)
                .where(PortalToken.token_hash == token_hash(token))
            ).first()
            if found is None or found[0].revoked_at or found[1].disabled_at:
                raise NotAuthenticated("invalid bearer token")
            now = self.clock()
            last = found[0].last_used_at
            # A write per API call would cost a commit each; a minute's precision is enough.
            if last is None or now - last > _TOKEN_TOUCH_EVERY:
                found[0].last_used_at = now
            return Principal.of(found[1], via="token")

    def change_own_password(self, user: Principal, current: str, new: str) -> None:
        with self.catalogue.session() as s:
            row = s.get(PortalUser, user.id)
            if row is None or not verify_password(row.password_hash, current):
                raise BadInput("the current password is wrong")
            if current == new:
                raise BadInput("the new password must differ from the current one")
        self.set_password(user.name, new, actor=user.actor)

    @staticmethod
    def _row(s: Session, name: str) -> PortalUser:
        row = s.scalar(select(PortalUser).where(PortalUser.name == name))
        if row is None:
            raise NotFound(f"no portal user named {name!r}")
        return row


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise BadInput(
            f"user name {name!r}: 1..64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
        )


def _check_role(role: str, services: builtins.list[str] | None) -> str | None:
    """The services column for this role: a JSON list, or None for every service."""
    if role not in roles.ROLES:
        raise BadInput(f"role {role!r}; allowed: {', '.join(roles.ROLES)}")
    if services and role not in roles.SCOPED:
        raise BadInput(
            f"role {role} is not scoped to services; --service applies to supervisor, qa"
        )
    if not services:
        return None
    for svc in services:
        if not svc or len(svc) > 120 or not svc.isprintable():
            raise BadInput(f"service {svc!r} must be 1..120 printable characters")
    return json.dumps(sorted(set(services)))
