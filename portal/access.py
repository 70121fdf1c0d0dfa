"""THE authorisation rule of the portal: pages, the API and the audio stream all ask here.

`can(user, action, recording)` answers for one recording (or none, for actions that touch no
recording); `scoped(stmt, user)` narrows any SELECT over recordings to what the user may see.
A recording outside the user's services, or restricted (consent/restriction.py) for a user
who may not see restricted ones, is treated exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, false

from consent.restriction import not_restricted_sql
from portal.auth import roles
from portal.auth.principal import Principal
from storage.catalogue.models import Recording

S = TypeVar("S", bound=Select[*tuple[Any, ...]])


class HasService(Protocol):
    @property
    def service(self) -> str | None: ...


def allowed(user: Principal, action: str) -> bool:
    """The role allows the action at all (before looking at any recording)."""
    if user.must_change_password:
        return False
    acts = roles.ROLE_ACTIONS.get(user.role, frozenset())
    if action == roles.DOWNLOAD:
        return roles.PLAY in acts and (roles.DOWNLOAD in acts or user.may_download)
    return action in acts


def in_scope(user: Principal, recording: HasService) -> bool:
    return user.services is None or (recording.service in user.services)


def can(user: Principal, action: str, recording: HasService | None = None) -> bool:
    if not allowed(user, action):
        return False
    return recording is None or in_scope(user, recording)


def scoped(stmt: S, user: Principal) -> S:
    """stmt (a SELECT over recordings) limited to the recordings the user may see."""
    if not allowed(user, roles.VIEW):
        return stmt.where(false())
    if not allowed(user, roles.SEE_RESTRICTED):
        stmt = stmt.where(not_restricted_sql(Recording.id))
    if user.services is None:
        return stmt
    return stmt.where(Recording.service.in_(sorted(user.services)))
