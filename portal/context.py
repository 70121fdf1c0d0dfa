"""What the portal is given by the composition root: its settings and the domain services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from portal.auth.sessions import Sessions
from portal.auth.users import Throttle, Users
from portal.grants import Grants
from portal.recordings import PortalRecordings
from storage.catalogue.db import Catalogue
from storage.retrieval import Recordings


@dataclass(frozen=True)
class PortalConfig:
    """The [portal] settings the app needs (built from callvault.toml by callvault/)."""

    secure_cookies: bool = False  # True under TLS: cookies get the Secure attribute
    idle_timeout: timedelta = timedelta(minutes=30)
    grant_lifetime: timedelta = timedelta(minutes=30)
    ffmpeg: str = "ffmpeg"
    throttle: Throttle = field(default_factory=Throttle)


@dataclass
class PortalContext:
    config: PortalConfig
    catalogue: Catalogue
    recordings: Recordings
    caller_hash: Callable[[str], str]  # the keyed hash of a caller number (storage.identity)
    ready: Callable[[], dict[str, str]]  # component -> "ok" or what is wrong
    users: Users = field(init=False)
    sessions: Sessions = field(init=False)
    grants: Grants = field(init=False)
    portal_recordings: PortalRecordings = field(init=False)

    def __post_init__(self) -> None:
        c = self.config
        self.users = Users(self.catalogue, throttle=c.throttle)
        self.sessions = Sessions(self.catalogue, idle_timeout=c.idle_timeout)
        self.grants = Grants(self.catalogue, lifetime=c.grant_lifetime)
        self.portal_recordings = PortalRecordings(self.catalogue, self.recordings)
