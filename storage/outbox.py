"""The transactional outbox: domain code reports a change by `emit(session, type, payload)` in
the SAME session (transaction) as the change, so an event exists exactly when its change was
committed. The delivery worker (webhooks/) reads the table later; domain code never sends.

Payloads are thin: identifiers and links only. A telephone number, a name or a case reference
must never be given here (`emit` refuses keys that usually carry them).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from storage.audit import canonical_json
from storage.catalogue.models import OutboxEvent
from storage.clock import utcnow
from storage.errors import StorageError

EVENT_TYPES = (
    "recording.stored",
    "recording.destroyed",
    "request.due",
    "consent.objected",
)
# Keys that would carry personal data into a webhook: refused whatever their value.
_PERSONAL = frozenset({"caller", "caller_number", "number", "phone", "name", "case_id", "case_ids"})
MAX_PAYLOAD = 8 * 1024


def emit(
    session: Session,
    event_type: str,
    payload: dict[str, Any],
    *,
    clock: Callable[[], datetime] = utcnow,
) -> str:
    """Add the event to the outbox in `session`'s transaction; returns its id (msg_…).

    Nothing is sent now: if the transaction rolls back, the event is gone with the change.
    """
    if event_type not in EVENT_TYPES:
        raise StorageError(f"unknown event type {event_type!r}; known: {', '.join(EVENT_TYPES)}")
    personal = sorted(_PERSONAL & set(payload))
    if personal:
        raise StorageError(f"{event_type} payload must not carry {', '.join(personal)}")
    body = canonical_json(payload)
    if len(body) > MAX_PAYLOAD:
        raise StorageError(f"{event_type} payload is {len(body)} bytes (max {MAX_PAYLOAD})")
    event_id = "msg_" + uuid.uuid4().hex
    session.add(OutboxEvent(id=event_id, type=event_type, payload=body, created_at=clock()))
    return event_id
