"""The decisions' audit events, written in batches.

The audit chain is hash-linked, so every append holds one lock (pg_advisory_xact_lock) from
reading the last hash to the commit: one append per decision would cap decisions at one per
lock hold (~150/s measured on this machine). A decision therefore commits its consent record
and its `platform_calls` row with `audited_at` NULL, and this batcher appends ONE
`consent.record` event per batch naming every record it covers, then marks them, in one
transaction. An opened record is audited within about `every_s`; after a crash, the first
batch at start-up audits what was left. Nothing is lost; it is only later.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select, update

from storage.audit import AuditLog
from storage.catalogue.db import Catalogue
from storage.catalogue.models import PlatformCall
from storage.clock import utcnow

log = logging.getLogger("callvault.hooks")
BATCH = 2000


class DecisionAudit:
    def __init__(
        self,
        catalogue: Catalogue,
        every_s: float = 0.5,
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.catalogue = catalogue
        self.every_s = every_s
        self.clock = clock
        self.audit = audit or AuditLog(clock)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="hooks-audit", daemon=True)

    def flush(self, actor: str = "callvault hooks") -> int:
        """Audit up to BATCH unaudited openings in one event; returns how many."""
        with self.catalogue.session() as s:
            now = self.clock()
            due = (
                select(PlatformCall.platform_call_id)
                .where(PlatformCall.audited_at.is_(None))
                .order_by(PlatformCall.opened_at)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
            rows = s.execute(  # marked in one statement, not row by row
                update(PlatformCall)
                .where(PlatformCall.platform_call_id.in_(due))
                .values(audited_at=now)
                .returning(PlatformCall.consent_record_id, PlatformCall.facts)
                .execution_options(synchronize_session=False)
            ).all()
            if not rows:
                return 0
            outcomes = Counter(json.loads(facts).get("outcome", "?") for _, facts in rows)
            self.audit.append(
                s,
                actor=actor,
                action="consent.record",
                # the rows, not the call IDs: the audit log outlives the records
                details={
                    "consent_records": sorted(rid for rid, _ in rows),
                    "outcomes": dict(sorted(outcomes.items())),
                    "source": "platform-hook",
                },
            )
            return len(rows)

    def drain(self) -> int:
        total = 0
        while (n := self.flush()) > 0:
            total += n
        return total

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.drain()
            except Exception as exc:  # the next round retries; nothing is marked done
                log.error("auditing platform decisions failed: %s: %s", type(exc).__name__, exc)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.drain()
