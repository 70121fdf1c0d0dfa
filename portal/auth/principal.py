"""The authenticated user as the rest of the portal sees it (no password hash, no ORM row)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from storage.catalogue.models import PortalUser


@dataclass(frozen=True)
class Principal:
    id: int
    name: str
    role: str
    services: frozenset[str] | None  # None: every service
    may_download: bool
    must_change_password: bool
    via: str = "session"  # session | token

    @classmethod
    def of(cls, row: PortalUser, via: str = "session") -> Principal:
        return cls(
            id=row.id,
            name=row.name,
            role=row.role,
            services=services_of(row),
            may_download=row.may_download,
            must_change_password=row.must_change_password,
            via=via,
        )

    @property
    def actor(self) -> str:
        """How the audit log names this user."""
        return f"portal:{self.name}"


def services_of(row: PortalUser) -> frozenset[str] | None:
    return None if row.services is None else frozenset(json.loads(row.services))
