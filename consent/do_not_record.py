"""The standing do-not-record list, keyed by the HMAC of the caller's number. Audited."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.errors import ConsentError
from storage.audit import AuditLog
from storage.catalogue.db import Catalogue
from storage.catalogue.models import DoNotRecordEntry
from storage.clock import utcnow
from storage.errors import CallvaultError
from storage.fields import FieldError, check_reason
from storage.identity import CallerHasher
from storage.outbox import emit

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
        try:
            reason = check_reason(reason, "objection reason (--reason)")
        except FieldError as exc:  # whitespace or invisible characters only, or too long
            raise ConsentError(f"adding a caller to the do-not-record list: {exc}") from None
        h = self.hasher.hash(number)
        with self.catalogue.session() as s:
            if s.get(DoNotRecordEntry, h) is not None:
                raise ConsentError(f"caller {h[:12]}… is already on the do-not-record list")
            s.add(
                DoNotRecordEntry(
                    caller_hash=h,
                    added_at=self.clock(),
                    added_by=actor,
                    reason=reason,
                    hash_scheme="e164",
                )
            )
            self.audit.append(
                s, actor=actor, action="objection.add", details={"caller_hash": h, "reason": reason}
            )
            emit(s, "consent.objected", {"kind": "do-not-record list"})  # no number, no hash
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

    def remove_legacy(self, caller_hash: str, *, actor: str, reason: str) -> str:
        """Remove an entry hashed before E.164 (its number is unknown here), audited."""
        if not reason.strip():
            raise ConsentError("removing a do-not-record entry needs a --reason")
        with self.catalogue.session() as s:
            entry = s.get(DoNotRecordEntry, caller_hash)
            if entry is None or entry.hash_scheme is not None:
                raise ConsentError(
                    f"no do-not-record entry {caller_hash[:12]}… from before E.164 "
                    "(`callvault identity rehash` lists them)"
                )
            s.delete(entry)
            self.audit.append(
                s,
                actor=actor,
                action="objection.remove",
                details={"caller_hash": caller_hash, "reason": reason, "legacy": True},
            )
        return caller_hash

    def contains(self, number: str | None) -> bool:
        """One query; a withheld caller (no telephone number) is never on the list."""
        with self.catalogue.session() as s:
            return self.listed_in(s, number)

    def listed_in(self, session: Session, number: str | None) -> bool:
        """`contains` inside the caller's transaction (the platform decision hook's)."""
        h = self.hasher.hash_or_none(number)
        return h is not None and session.get(DoNotRecordEntry, h) is not None

    def list(self) -> list[dict[str, Any]]:
        with self.catalogue.session() as s:
            rows = s.scalars(select(DoNotRecordEntry).order_by(DoNotRecordEntry.added_at))
            return [
                {
                    "caller_hash": r.caller_hash,
                    "added_at": r.added_at.isoformat(),
                    "added_by": r.added_by,
                    "reason": r.reason,
                    "hash_scheme": r.hash_scheme or "legacy",
                }
                for r in rows
            ]


class DoNotRecordCache:
    """Do-not-record lookups for the SIP agent, never a database round trip on its thread.

    The decision to record is needed only when the notice ends and the call is bridged,
    seconds after the INVITE. So `lookup()` starts, at INVITE, one query for the caller's hash
    on a worker thread and returns a future; the agent reads it when the flow reaches that
    point. The query sees every entry committed before it runs, so a number added before the
    call arrived is refused on SQLite and PostgreSQL alike: no polling window. If the query
    fails (database down or locked) the answer comes from the in-memory copy of the list,
    reloaded every `refresh_s`, and the failure is logged; `__call__` is that copy, for a
    future not yet done when the answer is needed.
    """

    def __init__(self, dnr: DoNotRecordList, refresh_s: float = 5.0, workers: int = 2) -> None:
        self.dnr = dnr
        self.refresh_s = refresh_s
        self._hashes: frozenset[str] = frozenset()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="do-not-record", daemon=True)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="do-not-record-lookup")

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
        self._pool.shutdown(wait=True, cancel_futures=True)

    def lookup(self, number: str | None) -> Future[bool]:
        """Start the authoritative check (a query on a worker thread); never blocks."""
        h = self._hash(number)
        if h is None:
            done: Future[bool] = Future()
            done.set_result(False)  # withheld: nothing to match
            return done
        try:
            return self._pool.submit(self._query, h)
        except RuntimeError:  # shutting down: the cached list still answers
            done = Future()
            done.set_result(h in self._hashes)
            return done

    def _query(self, h: str) -> bool:
        try:
            with self.dnr.catalogue.session() as s:
                return s.get(DoNotRecordEntry, h) is not None
        except Exception as exc:
            log.error(
                "do-not-record lookup failed (%s); answered from the list loaded in memory",
                type(exc).__name__,
            )
            return h in self._hashes

    def _hash(self, number: str | None) -> str | None:
        try:
            return self.dnr.hasher.hash_or_none(number)
        except CallvaultError:
            return None

    def __call__(self, number: str | None) -> bool:
        """The in-memory answer (at most `refresh_s` old)."""
        h = self._hash(number)
        return h is not None and h in self._hashes
