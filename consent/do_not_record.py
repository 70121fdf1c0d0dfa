"""The standing do-not-record list, keyed by the HMAC of the caller's number. Audited."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from consent.errors import ConsentError
from storage.audit import AuditLog
from storage.catalogue.db import Catalogue
from storage.catalogue.models import DoNotRecordEntry
from storage.clock import utcnow
from storage.errors import CallvaultError
from storage.identity import CallerHasher

log = logging.getLogger(__name__)


class DoNotRecordList:
    def __init__(
        self,
        catalogue: Catalogue,
        hasher: CallerHasher,
        *,
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.catalogue = catalogue
        self.hasher = hasher
        self.clock = clock
        self.audit = audit or AuditLog(clock)

    def add(self, number: str, *, reason: str, actor: str) -> dict[str, Any]:
        if not reason.strip():
            raise ConsentError("adding a caller to the do-not-record list needs a --reason")
        h = self.hasher.hash(number)
        with self.catalogue.session() as s:
            if s.get(DoNotRecordEntry, h) is not None:
                raise ConsentError(f"caller {h[:12]}… is already on the do-not-record list")
            s.add(
                DoNotRecordEntry(
                    caller_hash=h, added_at=self.clock(), added_by=actor, reason=reason
                )
            )
            self.audit.append(
                s, actor=actor, action="objection.add", details={"caller_hash": h, "reason": reason}
            )
        return {"caller_hash": h, "reason": reason}

    def remove(self, number: str, *, actor: str, reason: str = "") -> str:
        h = self.hasher.hash(number)
        with self.catalogue.session() as s:
            entry = s.get(DoNotRecordEntry, h)
            if entry is None:
                raise ConsentError(f"caller {h[:12]}… is not on the do-not-record list")
            s.delete(entry)
            self.audit.append(
                s,
                actor=actor,
                action="objection.remove",
                details={"caller_hash": h, "reason": reason},
            )
        return h

    def contains(self, number: str) -> bool:
        with self.catalogue.session() as s:
            return s.get(DoNotRecordEntry, self.hasher.hash(number)) is not None

    def list(self) -> list[dict[str, Any]]:
        with self.catalogue.session() as s:
            rows = s.scalars(select(DoNotRecordEntry).order_by(DoNotRecordEntry.added_at))
            return [
                {
                    "caller_hash": r.caller_hash,
                    "added_at": r.added_at.isoformat(),
                    "added_by": r.added_by,
                    "reason": r.reason,
                }
                for r in rows
            ]


class DoNotRecordCache:
    """The list's hashes in memory, reloaded in the background: a lookup at call arrival
    costs one HMAC and a set probe, never a database round trip on the SIP thread."""

    def __init__(self, dnr: DoNotRecordList, refresh_s: float = 5.0) -> None:
        self.dnr = dnr
        self.refresh_s = refresh_s
        self._hashes: frozenset[str] = frozenset()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="do-not-record", daemon=True)

    def load(self) -> int:
        with self.dnr.catalogue.session() as s:
            self._hashes = frozenset(s.scalars(select(DoNotRecordEntry.caller_hash)))
        return len(self._hashes)

    def start(self) -> None:
        self.load()
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.refresh_s):
            try:
                self.load()
            except Exception:  # keep the last good list; the next refresh retries
                log.exception("reloading the do-not-record list failed")

    def stop(self) -> None:
        self._stop.set()

    def __call__(self, number: str) -> bool:
        try:
            return self.dnr.hasher.hash(number) in self._hashes
        except CallvaultError:
            return False  # no digits: nothing to match
