"""One recording as the portal shows it: the CLI's JSON object plus retention and destruction,
only for users who may see it (otherwise "not found", as for a missing one)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from consent.disclosures import for_recordings
from consent.recording_rights import annotate
from portal import access
from portal.auth import roles
from portal.auth.principal import Principal
from portal.errors import BadInput, Forbidden
from portal.grants import not_found
from retention_jobs.holds import holds_for
from retention_jobs.records import destruction_view, find_record
from storage.catalogue.db import Catalogue
from storage.catalogue.models import Recording
from storage.errors import NotFoundError
from storage.retrieval import Recordings


def _public(d: dict[str, Any]) -> dict[str, Any]:
    return {k: d[k] for k in ("id", "recipient", "kind", "reference", "actor", "disclosed_at")}


class PortalRecordings:
    def __init__(self, catalogue: Catalogue, recordings: Recordings) -> None:
        self.catalogue = catalogue
        self.recordings = recordings

    def check_visible(self, user: Principal, recording_id: str, action: str = roles.VIEW) -> None:
        """404 when the user cannot see it (missing or another service's); 403 when the user
        sees it but the role may not do `action` (that tells nothing about other services)."""
        if not access.allowed(user, roles.VIEW):
            raise Forbidden(f"role {user.role} has no access to recordings")
        with self.catalogue.session() as s:
            rec = s.scalar(
                access.scoped(select(Recording).where(Recording.id == recording_id), user)
            )
            if rec is None:
                raise not_found(recording_id)
            if not access.can(user, action, rec):
                raise Forbidden(f"role {user.role} may not {action} recordings")

    def show(self, user: Principal, recording_id: str) -> dict[str, Any]:
        """The same object as `callvault recordings show ID --json`."""
        self.check_visible(user, recording_id)
        try:
            view = self.recordings.show(recording_id)
        except NotFoundError:
            raise not_found(recording_id) from None
        with self.catalogue.session() as s:
            return annotate(s, view)

    def details(self, user: Principal, recording_id: str) -> dict[str, Any]:
        """What the recording page shows beside the object: holds, destruction, disclosures
        (their basis and reason only for those who keep the register)."""
        view = self.show(user, recording_id)
        with self.catalogue.session() as s:
            holds = holds_for(s, [recording_id]).get(recording_id, [])
            dr = find_record(s, recording_id)
            destruction = destruction_view(dr) if dr else None
            disclosures = for_recordings(s, [recording_id])
        if not access.allowed(user, roles.DISCLOSE):
            disclosures = [_public(d) for d in disclosures]
        return {
            "recording": view,
            "holds": holds,
            "destruction": destruction,
            "disclosures": disclosures,
        }

    def tag(self, user: Principal, recording_id: str, case_id: str, reason: str) -> dict[str, Any]:
        self.check_visible(user, recording_id, roles.TAG)
        if not reason.strip():
            raise BadInput("adding a case ID needs a reason (it is written to the audit log)")
        return self.recordings.tag(recording_id, case_id.strip(), actor=user.actor, reason=reason)
