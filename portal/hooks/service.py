"""What the composition root gives the hooks (app.state.hooks)."""

from __future__ import annotations

from dataclasses import dataclass

from portal.hooks.audit_batch import DecisionAudit
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
    audit: DecisionAudit

    def start(self, *, resume: bool = True) -> None:
        self.audit.drain()  # what a crash left unaudited
        self.audit.start()
        if resume:  # one process per site resumes the spool's jobs ([portal] workers)
            self.uploads.resume_in_background()

    def close(self) -> None:
        self.audit.stop()
        self.uploads.close()
        self.decider.close()
