"""Append-only, hash-chained audit log, keyed.

Each row's hash covers the previous row's hash and its own content, so editing, removing or
reordering any row breaks the chain from that row on. The hash is an HMAC-SHA256 under the
audit key (`keys/audit-chain.key`, made by `callvault init`), so rewriting the chain needs the
key, not only write access to the database. The key reaches the log through the catalogue's
sessions (`Session.info["audit_key"]`), so every writer keys its rows without being told.

Chains written before the key existed keep their plain SHA-256 rows: the first keyed row is an
`audit.keyed` event (the switch-over), hashed under the key; rows before it are checked by the
old rule, rows from it on by the keyed one. Once a key exists, a chain without its switch-over
row is broken. Removing rows from the *end* is caught by anchors (storage/anchors.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from storage.catalogue.models import AuditEvent
from storage.clock import utcnow
from storage.errors import KeyUnavailableError
from storage.fsutil import atomic_write_bytes

GENESIS = "0" * 64
_PG_AUDIT_LOCK = 0x63616C6C7661  # "callva": one advisory lock serialises appends on PostgreSQL


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


KEYED_ACTION = "audit.keyed"
AUDIT_KEY_FILE = "audit-chain.key"


def load_audit_key(path: Path) -> bytes | None:
    """The audit key from the key directory, or None where it was never created."""
    if not path.is_file():
        return None
    key = bytes.fromhex(path.read_text().strip())
    if len(key) < 32:
        raise KeyUnavailableError(f"audit key {path} is shorter than 32 bytes")
    return key


def create_audit_key(path: Path) -> bool:
    """Create the audit key (0600) if absent; True when created."""
    if path.exists():
        return False
    atomic_write_bytes(path, secrets.token_hex(32).encode())
    return True


def _event_hash(prev_hash: str, ev: AuditEvent, key: bytes | None = None) -> str:
    body = canonical_json(
        {
            "seq": ev.seq,
            "at": ev.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": ev.actor,
            "action": ev.action,
            "recording_id": ev.recording_id,
            "details": ev.details,
        }
    )
    message = f"{prev_hash}\n{body}".encode()
    if key is None:  # rows written before the chain was keyed
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def keyed_from(session: Session) -> int | None:
    """The sequence number of the switch-over row, or None for a chain that was never keyed."""
    return session.scalar(select(func.min(AuditEvent.seq)).where(AuditEvent.action == KEYED_ACTION))


class AuditLog:
    """Writes audit events inside the caller's transaction, so an action and its record commit
    together or not at all."""

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock

    def ensure_keyed(self, session: Session) -> bool:
        """Write the switch-over row now if the session has a key and the chain is unkeyed
        (`callvault init` does, so an upgraded chain is keyed from the moment the key exists).
        True when it wrote one."""
        if session.info.get("audit_key") is None:
            return False
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
        if keyed_from(session) is not None:
            return False
        last = session.execute(
            select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
        ).first()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        self._switch(session, seq, prev, self._clock().astimezone(UTC), session.info["audit_key"])
        return True

    def _switch(self, session: Session, seq: int, prev: str, at: datetime, key: bytes) -> str:
        details = {"scheme": "hmac-sha256", "unkeyed_rows": seq - 1}
        ev = self._add(session, seq, at, "callvault", KEYED_ACTION, None, prev, key, details)
        return ev.hash

    def append(
        self,
        session: Session,
        *,
        actor: str,
        action: str,
        recording_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
        key: bytes | None = session.info.get("audit_key")
        last = session.execute(
            select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
        ).first()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        switched = keyed_from(session) is not None
        if key is None and switched:
            raise KeyUnavailableError(
                f"the audit chain is keyed but this process has no audit key ({AUDIT_KEY_FILE} "
                "in the key directory); nothing was written"
            )
        at = self._clock().astimezone(UTC)
        if key is not None and not switched:  # the first keyed row: the switch-over
            seq, prev = seq + 1, self._switch(session, seq, prev, at, key)
        return self._add(session, seq, at, actor, action, recording_id, prev, key, details or {})

    @staticmethod
    def _add(
        session: Session,
        seq: int,
        at: datetime,
        actor: str,
        action: str,
        recording_id: str | None,
        prev: str,
        key: bytes | None,
        details: dict[str, Any],
    ) -> AuditEvent:
        ev = AuditEvent(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            recording_id=recording_id,
            details=canonical_json(details),
            prev_hash=prev,
        )
        ev.hash = _event_hash(prev, ev, key)
        session.add(ev)
        session.flush()
        return ev


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None


def verify_chain(session: Session, batch: int = 5000) -> VerifyResult:
    """Walk the chain in order; the first row whose link or content does not match is named.

    Rows before the switch-over are checked as plain SHA-256, the rest under the audit key
    (from the session, like `append`)."""
    key: bytes | None = session.info.get("audit_key")
    prev, expected_seq, count, keyed = GENESIS, 1, 0, False
    stmt = select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=batch)
    for ev in session.scalars(stmt):
        count += 1
        if ev.seq != expected_seq:
            return VerifyResult(
                False,
                count,
                prev,
                expected_seq,
                f"row {expected_seq} is missing (next row present is {ev.seq})",
            )
        if ev.prev_hash != prev:
            return VerifyResult(
                False,
                count,
                prev,
                ev.seq,
                f"row {ev.seq} does not link to row {ev.seq - 1} (removed or reordered rows)",
            )
        keyed = keyed or ev.action == KEYED_ACTION
        if keyed and key is None:
            return VerifyResult(
                False,
                count,
                prev,
                ev.seq,
                f"the chain is keyed from row {ev.seq} and this node has no audit key "
                f"({AUDIT_KEY_FILE}); it cannot be verified here",
            )
        if _event_hash(prev, ev, key if keyed else None) != ev.hash:
            return VerifyResult(
                False,
                count,
                prev,
                ev.seq,
                f"row {ev.seq} ({ev.action}) was altered: its content no longer matches its hash",
            )
        prev, expected_seq = ev.hash, expected_seq + 1
    if key is not None and count and not keyed:
        return VerifyResult(
            False,
            count,
            prev,
            1,
            "the chain carries no keyed row although an audit key exists: it was rewritten "
            "without the key",
        )
    return VerifyResult(True, count, prev)
