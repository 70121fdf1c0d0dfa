"""Playback grants: a stated reason opens a short-lived permission to stream one recording.

The grant is audited once, with who, when and why; the audio requests made under it (a
browser makes many Range requests per play) are not audited again.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from portal import access
from portal.auth import roles
from portal.auth.principal import Principal
from portal.errors import BadInput, Forbidden, NotFound
from storage.audio_stream import AudioVersion
from storage.audit import AuditLog
from storage.catalogue.db import Catalogue
from storage.catalogue.models import PlaybackGrant, Recording
from storage.clock import utcnow

REASONS = {
    "complaint": "Complaint investigation",
    "quality": "Quality monitoring",
    "training": "Staff training",
    "subject-access": "Subject access request",
    "legal": "Legal or insurance claim",
    "other": "Other (say why)",
}
MAX_REASON = 500


@dataclass(frozen=True)
class Grant:
    id: str
    recording_id: str
    expires_at: datetime
    version: AudioVersion  # what every request under the grant reads

    @property
    def format(self) -> str:
        return self.version.format

    @property
    def length(self) -> int:
        return self.version.length


def not_found(recording_id: str) -> NotFound:
    """The one answer for a recording that is missing or outside the user's services."""
    return NotFound(f"no recording with id {recording_id!r}")


class Grants:
    def __init__(
        self,
        catalogue: Catalogue,
        *,
        lifetime: timedelta = timedelta(minutes=30),
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.catalogue = catalogue
        self.lifetime = lifetime
        self.clock = clock
        self.audit = audit or AuditLog(clock)

    def open(self, user: Principal, recording_id: str, reason_code: str, reason: str) -> Grant:
        reason = reason.strip()
        if reason_code not in REASONS:
            raise BadInput(f"reason {reason_code!r}; allowed: {', '.join(REASONS)}")
        if not reason:
            raise BadInput("say why you are listening: a reason is required before playback")
        if len(reason) > MAX_REASON or not reason.isprintable():
            raise BadInput(f"the reason must be at most {MAX_REASON} printable characters")
        if not access.allowed(user, roles.PLAY):
            raise Forbidden(f"role {user.role} may not play recordings")
        now = self.clock()
        with self.catalogue.session() as s:
            rec = s.scalar(
                access.scoped(select(Recording).where(Recording.id == recording_id), user)
            )
            if rec is None:
                raise not_found(recording_id)
            if rec.state != "stored":
                raise BadInput(f"recording {rec.id} is {rec.state}; there is no audio to play")
            grant = PlaybackGrant(
                id=secrets.token_urlsafe(24),
                recording_id=rec.id,
                user_id=user.id,
                reason_code=reason_code,
                reason_text=reason,
                created_at=now,
                expires_at=now + self.lifetime,
                object_key=rec.object_key,
                format=rec.format,
                plaintext_bytes=rec.plaintext_bytes,
            )
            s.add(grant)
            self.audit.append(
                s,
                actor=user.actor,
                action="recording.play",
                recording_id=rec.id,
                details={
                    "reason_code": reason_code,
                    "reason": reason,
                    "expires_at": grant.expires_at.isoformat(),
                },
            )
            return Grant(grant.id, rec.id, grant.expires_at, _pinned(grant, rec))

    def resolve(self, user: Principal, grant_id: str) -> Grant:
        """The grant, if it is this user's, still valid, and the recording still visible."""
        now = self.clock()
        with self.catalogue.session() as s:
            # Scoped: a grant stops working when its recording is restricted meanwhile.
            found = s.execute(
                access.scoped(
                    select(PlaybackGrant, Recording)
                    .join(Recording, Recording.id == PlaybackGrant.recording_id)
                    .where(PlaybackGrant.id == grant_id),
                    user,
                )
            ).first()
            if (
                found is None
                or found[0].user_id != user.id
                or found[0].expires_at <= now
                or not access.can(user, roles.PLAY, found[1])
                or found[1].state != "stored"
            ):
                raise NotFound("no such playback grant (or it has expired)")
            g, rec = found
            return Grant(g.id, rec.id, g.expires_at, _pinned(g, rec))


def _pinned(g: PlaybackGrant, rec: Recording) -> AudioVersion:
    """The version the grant was opened on (a grant older than migration 0016: the current)."""
    if g.object_key and g.format and g.plaintext_bytes is not None:
        return AudioVersion(g.object_key, g.format, g.plaintext_bytes)
    return AudioVersion(rec.object_key, rec.format, rec.plaintext_bytes)
