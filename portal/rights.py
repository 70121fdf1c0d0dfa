"""The DPO's data-subject rights in the portal: restriction, rectification, the disclosure
register. Only the roles that hold the action may use them; a recording they cannot see is
"not found", as everywhere (portal.access). The work is done by consent/."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Annotated, Any

from fastapi import Depends

from consent import rectification, restriction
from consent.disclosures import DisclosureRequest, Disclosures, Plan, list_disclosures
from portal import access
from portal.auth import roles
from portal.auth.principal import Principal
from portal.deps import Ctx
from portal.errors import BadInput, Forbidden
from portal.recordings import PortalRecordings
from storage.catalogue.db import Catalogue
from storage.retrieval import Recordings


class PortalRights:
    def __init__(
        self, catalogue: Catalogue, recordings: Recordings, portal_recordings: PortalRecordings
    ) -> None:
        self.catalogue = catalogue
        self.portal_recordings = portal_recordings
        self.register = Disclosures(catalogue, recordings)

    def restrict(self, user: Principal, recording_id: str, reason: str) -> dict[str, Any]:
        self.portal_recordings.check_visible(user, recording_id, roles.RESTRICT)
        with self.catalogue.session() as s:
            done = restriction.restrict(s, [recording_id], actor=user.actor, reason=reason)
        return {"restricted": done, "already_restricted": [] if done else [recording_id]}

    def lift(self, user: Principal, recording_id: str, reason: str) -> dict[str, Any]:
        self.portal_recordings.check_visible(user, recording_id, roles.RESTRICT)
        with self.catalogue.session() as s:
            return {"lifted": restriction.lift(s, [recording_id], actor=user.actor, reason=reason)}

    def rectify(
        self,
        user: Principal,
        recording_id: str,
        changes: Sequence[rectification.Change],
        reason: str,
    ) -> dict[str, Any]:
        """The corrections, then the recording object as it now is."""
        self.portal_recordings.check_visible(user, recording_id, roles.RECTIFY)
        with self.catalogue.session() as s:
            rectification.rectify(s, recording_id, changes, actor=user.actor, reason=reason)
        return self.portal_recordings.show(user, recording_id)

    def require(self, user: Principal) -> None:
        if not access.allowed(user, roles.DISCLOSE):
            raise Forbidden(f"role {user.role} has no access to the disclosure register")

    def disclosures(
        self, user: Principal, recording_id: str | None = None, recipient: str | None = None
    ) -> list[dict[str, Any]]:
        self.require(user)
        for name, value in (("recording_id", recording_id), ("recipient", recipient)):
            if value is not None and not value.isprintable():
                raise BadInput(f"{name} contains a control character")
        with self.catalogue.session() as s:
            return list_disclosures(s, recording_id=recording_id, recipient=recipient)

    def disclosure(self, user: Principal, disclosure_id: str) -> dict[str, Any]:
        self.require(user)
        return self.register.show(disclosure_id)

    def disclose(self, user: Principal, req: DisclosureRequest) -> tuple[Plan, Iterator[bytes]]:
        """Record the disclosure (audited before the first byte leaves) and return the
        package's chunks for the response."""
        self.require(user)
        plan = self.register.plan(req, actor=user.actor)
        self.register.record(plan)
        return plan, self.register.package(plan)


def _rights(ctx: Ctx) -> PortalRights:
    return PortalRights(ctx.catalogue, ctx.recordings, ctx.portal_recordings)


Rights = Annotated[PortalRights, Depends(_rights)]
