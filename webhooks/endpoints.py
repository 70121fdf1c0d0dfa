"""Webhook endpoints: URL, the event types it wants, and its signing secrets (whsec_…),
sealed under a per-endpoint data key (storage.crypto Envelope), never stored in clear.

`rotate-secret` makes a new secret and keeps the old one valid for `overlap` (24 h): during
that time every message carries both signatures (Standard Webhooks allows several), so the
receiver can switch at its own pace."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.audit import AuditLog
from storage.catalogue.db import Catalogue
from storage.catalogue.models import WebhookEndpoint
from storage.clock import utcnow
from storage.crypto import Envelope
from storage.errors import CallvaultError
from storage.outbox import EVENT_TYPES
from webhooks.targets import check_target

LABEL = "webhook-endpoint-secrets"


class WebhookError(CallvaultError):
    pass


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Endpoints:
    def __init__(
        self,
        catalogue: Catalogue,
        envelope: Envelope,
        *,
        allow_private: bool,
        overlap: timedelta = timedelta(hours=24),
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.catalogue = catalogue
        self.envelope = envelope
        self.allow_private = allow_private
        self.overlap = overlap
        self.clock = clock
        self.audit = audit or AuditLog(clock)

    def add(self, url: str, events: list[str], *, actor: str) -> tuple[dict[str, Any], str]:
        unknown = sorted(set(events) - set(EVENT_TYPES))
        if not events or unknown:
            raise WebhookError(
                f"unknown event types {', '.join(unknown) or '(none given)'}; "
                f"known: {', '.join(EVENT_TYPES)}"
            )
        check_target(url, allow_private=self.allow_private)
        secret = new_secret()
        key, kek_id, wrapped = self.envelope.new_data_key(LABEL)
        sealed = key.seal(json.dumps([{"secret": secret, "until": None}]), LABEL)
        with self.catalogue.session() as s:
            row = WebhookEndpoint(
                url=url,
                events=json.dumps(sorted(set(events))),
                kek_id=kek_id,
                wrapped_keyset=wrapped,
                secrets_sealed=sealed,
                created_at=self.clock(),
            )
            s.add(row)
            s.flush()
            self.audit.append(
                s, actor=actor, action="webhook.add", details={"endpoint": row.id, "url": url}
            )
            return view(row), secret

    def all(self) -> list[dict[str, Any]]:
        with self.catalogue.session() as s:
            rows = s.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id))
            return [view(r) for r in rows]

    def remove(self, endpoint_id: int, *, actor: str) -> None:
        with self.catalogue.session() as s:
            row = self._get(s, endpoint_id)
            s.delete(row)
            self.audit.append(s, actor=actor, action="webhook.remove", details={"endpoint": row.id})

    def rotate(self, endpoint_id: int, *, actor: str) -> str:
        secret = new_secret()
        now = self.clock()
        with self.catalogue.session() as s:
            row = self._get(s, endpoint_id)
            key = self.envelope.open_data_key(LABEL, row.kek_id, row.wrapped_keyset)
            old = [
                {**e, "until": e["until"] or (now + self.overlap).isoformat()}
                for e in json.loads(key.unseal(row.secrets_sealed, LABEL))
                if e["until"] is None or datetime.fromisoformat(e["until"]) > now
            ]
            current = {"secret": secret, "until": None}
            row.secrets_sealed = key.seal(json.dumps([current, *old]), LABEL)
            self.audit.append(
                s, actor=actor, action="webhook.rotate-secret", details={"endpoint": row.id}
            )
        return secret

    def secrets(self, row: WebhookEndpoint) -> list[str]:
        """The secrets to sign with now: the current one and any still in their overlap."""
        key = self.envelope.open_data_key(LABEL, row.kek_id, row.wrapped_keyset)
        now = self.clock()
        return [
            e["secret"]
            for e in json.loads(key.unseal(row.secrets_sealed, LABEL))
            if e["until"] is None or datetime.fromisoformat(e["until"]) > now
        ]

    @staticmethod
    def _get(s: Session, endpoint_id: int) -> WebhookEndpoint:
        row = s.get(WebhookEndpoint, endpoint_id)
        if row is None:
            raise WebhookError(f"no webhook endpoint {endpoint_id} (see `callvault webhooks list`)")
        return row


def view(row: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": row.id,
        "url": row.url,
        "events": json.loads(row.events),
        "created_at": row.created_at.isoformat(),
        "disabled_at": row.disabled_at.isoformat() if row.disabled_at else None,
        "disabled_reason": row.disabled_reason,
    }
