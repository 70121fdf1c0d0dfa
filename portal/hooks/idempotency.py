"""Idempotency-Key on POST /hooks/v1/recordings, as in the IETF httpapi draft
(draft-ietf-httpapi-idempotency-key-header): the first request with a key owns it; a retry
with the same key and the same content replays the first answer, with other content is 422,
and while the first is still being answered is 409. Keys are per platform user.

Rows live in `hook_uploads` (one per upload, keyed or not): `receiving` (no durable job yet),
`processing` (the job is in the spool, the answer not chosen), then the answer is stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from portal.errors import BadInput, Conflict, Unprocessable
from storage.catalogue.db import Catalogue
from storage.catalogue.models import HookUpload
from storage.clock import utcnow

MAX_KEY = 255


class InFlight(Conflict):
    title = "Request in progress"


class KeyReused(Unprocessable):
    title = "Idempotency-Key reused"


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip().strip('"')  # the draft's key is a Structured Header string
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise BadInput(f"Idempotency-Key must be 1..{MAX_KEY} printable characters")
    return key


class Keys:
    def __init__(self, catalogue: Catalogue, clock: Callable[[], datetime] = utcnow) -> None:
        self.catalogue = catalogue
        self.clock = clock

    def earlier(self, principal_id: int, key: str) -> HookUpload | None:
        with self.catalogue.session() as s:
            row = s.scalars(
                select(HookUpload).where(
                    HookUpload.principal_id == principal_id, HookUpload.idempotency_key == key
                )
            ).first()
            if row is not None:
                s.expunge(row)
            return row

    def claim(self, upload_id: str, principal_id: int, key: str | None) -> None:
        """Own the key (or fail with 409 if another request took it first)."""
        now = self.clock()
        try:
            with self.catalogue.session() as s:
                s.add(
                    HookUpload(
                        id=upload_id,
                        principal_id=principal_id,
                        idempotency_key=key,
                        state="receiving",
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise InFlight("a request with this Idempotency-Key is still being answered") from None

    def release(self, upload_id: str) -> None:
        """The request failed before its job was durable: a retry starts afresh."""
        with self.catalogue.session() as s:
            s.execute(delete(HookUpload).where(HookUpload.id == upload_id))

    def set(self, upload_id: str, **values: Any) -> None:
        with self.catalogue.session() as s:
            row = s.get(HookUpload, upload_id)
            if row is None:
                return
            for k, v in values.items():
                setattr(row, k, v)
            row.updated_at = self.clock()

    def answer(self, upload_id: str, answer: Answer, state: str, detail: str | None) -> None:
        self.set(
            upload_id,
            state=state,
            detail=detail,
            response_status=answer.status,
            response_body=json.dumps(answer.body),
        )


def replay(row: HookUpload, fingerprint: str) -> Answer:
    """The answer to a retry of `row`'s request whose content hashes to `fingerprint`."""
    if row.response_status is None:
        raise InFlight("a request with this Idempotency-Key is still being answered")
    if row.fingerprint != fingerprint:
        raise KeyReused(
            "this Idempotency-Key was used for a different upload; use a new key for new content"
        )
    return Answer(row.response_status, json.loads(row.response_body or "{}"))
