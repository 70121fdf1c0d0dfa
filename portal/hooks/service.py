"""What the composition root gives the hooks (app.state.hooks)."""

from __future__ import annotations

from dataclasses import dataclass

from portal.hooks.auth import TokenCache
from portal.hooks.calls import CallEvents
from portal.hooks.decide import Decider
from portal.hooks.uploads import Uploads


@dataclass
class HooksService:
    tokens: TokenCache
    decider: Decider
    uploads: Uploads
    events: CallEvents

    def close(self) -> None:
        self.uploads.close()
