"""Audit anchors: the chain's head (sequence number, hash, time) copied to the object store,
so that cutting rows off the end of the log — invisible to the chain itself — is detected.

An anchor holds no personal data. Where the bucket has S3 Object Lock, the anchor is written
under a retention period, so not even the store's owner can remove it early. Each anchor
carries an HMAC under the audit key, so a forged anchor does not pass either.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.audit import GENESIS, canonical_json
from storage.catalogue.db import Catalogue
from storage.catalogue.models import AuditEvent
from storage.clock import utcnow
from storage.errors import StorageError
from storage.objects.base import ObjectStore

PREFIX = "audit-anchors/"
SCHEME = "callvault-audit-anchor/1"


@dataclass(frozen=True)
class Anchor:
    seq: int
    head_hash: str
    at: datetime
    key: str = ""


def _mac(key: bytes | None, body: dict[str, object]) -> str | None:
    if key is None:
        return None
    return hmac.new(key, canonical_json(body).encode(), hashlib.sha256).hexdigest()


def write_anchor(
    catalogue: Catalogue,
    store: ObjectStore,
    *,
    clock: Callable[[], datetime] = utcnow,
    retain_days: int = 400,
) -> Anchor:
    """Copy the current head of the chain to the object store (locked where supported)."""
    with catalogue.session() as s:
        last = s.execute(
            select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
        ).first()
    seq, head = (int(last[0]), str(last[1])) if last else (0, GENESIS)
    at = clock()
    body: dict[str, object] = {
        "scheme": SCHEME,
        "seq": seq,
        "head_hash": head,
        "at": at.isoformat(),
    }
    doc = body | {"mac": _mac(catalogue.audit_key, body)}
    key = f"{PREFIX}{seq:012d}-{at:%Y%m%dT%H%M%S%f}Z.json"
    store.put_bytes(key, json.dumps(doc).encode(), retain_until=at + timedelta(days=retain_days))
    return Anchor(seq, head, at, key)


def read_anchors(store: ObjectStore, audit_key: bytes | None) -> list[Anchor]:
    """Every anchor in the store, oldest chain position first; a forged one is an error."""
    anchors = []
    for key in store.list_keys(PREFIX):
        try:
            doc = json.loads(store.get_bytes(key))
            body = {k: doc[k] for k in ("scheme", "seq", "head_hash", "at")}
        except (ValueError, KeyError, TypeError):
            raise StorageError(f"audit anchor {key} is unreadable") from None
        if audit_key is not None and doc.get("mac") != _mac(audit_key, body):
            raise StorageError(f"audit anchor {key} does not carry a valid MAC (forged?)")
        anchors.append(Anchor(int(body["seq"]), str(body["head_hash"]), _time(body["at"]), key))
    return sorted(anchors, key=lambda a: (a.seq, a.at))


def check_anchors(session: Session, anchors: list[Anchor]) -> list[str]:
    """What the anchors say is wrong with the chain in the catalogue (empty when nothing)."""
    problems = []
    last = session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) or 0
    for a in anchors:
        if a.seq == 0:
            continue
        row = session.get(AuditEvent, a.seq)
        if row is None:
            problems.append(
                f"the anchor of {a.at.isoformat()} names row {a.seq}, but the chain ends at row "
                f"{last}: its tail was cut"
            )
            break
        if row.hash != a.head_hash:
            problems.append(
                f"row {a.seq} no longer has the hash anchored at {a.at.isoformat()}: rewritten"
            )
            break
    return problems


def _time(value: object) -> datetime:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise StorageError(f"audit anchor time {value!r} is not ISO 8601") from None
