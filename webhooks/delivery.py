"""The delivery worker: fan the outbox out to subscribed endpoints, then send what is due.

- `dispatch()`: every outbox event not yet dispatched becomes one `webhook_deliveries` row per
  enabled endpoint subscribed to its type (in one transaction, then marked dispatched).
- `send_due()`: claims due deliveries (FOR UPDATE SKIP LOCKED on PostgreSQL, so several
  workers never send the same one), signs and POSTs each (Standard Webhooks headers, signed
  with the standardwebhooks library), and records the answer: 2xx delivered; 410 disables
  the endpoint; anything else (or no answer) is retried with backoff and jitter, honouring
  Retry-After, until `give_up_after` (3 days) has passed since the event, then failed.
- Payloads are thin: `{"type", "timestamp", "data": {ids…, "links": {…}}}`.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from storage.catalogue.db import Catalogue
from storage.catalogue.models import OutboxEvent, WebhookDelivery, WebhookEndpoint
from storage.clock import utcnow
from webhooks.backoff import next_attempt
from webhooks.endpoints import Endpoints, WebhookError
from webhooks.targets import TargetRefused, check_target

log = logging.getLogger("callvault.webhooks")
BATCH = 100


def links(event_type: str, data: dict[str, Any]) -> dict[str, str]:
    out = {}
    if "recording_id" in data:
        out["recording"] = f"/api/v1/recordings/{data['recording_id']}"
    if "request_id" in data:
        out["request"] = f"/api/v1/requests/{data['request_id']}"
    return out


def message(ev: OutboxEvent) -> str:
    data = json.loads(ev.payload)
    body = {
        "type": ev.type,
        "timestamp": ev.created_at.isoformat(),
        "data": {**data, "links": links(ev.type, data)},
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def signed_headers(msg_id: str, at: datetime, body: str, secrets: list[str]) -> dict[str, str]:
    sigs = " ".join(Webhook(s).sign(msg_id, at, body) for s in secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": sigs,
        "content-type": "application/json",
        "user-agent": "callvault-webhooks/1",
    }


class Deliverer:
    def __init__(
        self,
        catalogue: Catalogue,
        endpoints: Endpoints,
        *,
        timeout_s: float = 10.0,
        give_up_after: timedelta = timedelta(days=3),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.catalogue = catalogue
        self.endpoints = endpoints
        self.timeout_s = timeout_s
        self.give_up_after = give_up_after
        self.clock = clock

    def dispatch(self) -> int:
        made = 0
        with self.catalogue.session() as s:
            events = s.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.dispatched_at.is_(None))
                .order_by(OutboxEvent.created_at)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            ).all()
            if not events:
                return 0
            live = s.scalars(select(WebhookEndpoint).where(WebhookEndpoint.disabled_at.is_(None)))
            subs = [(e.id, set(json.loads(e.events))) for e in live]
            now = self.clock()
            for ev in events:
                for endpoint_id, types in subs:
                    if ev.type in types:
                        s.add(new_delivery(ev.id, endpoint_id, now))
                        made += 1
                ev.dispatched_at = now
        return made

    def send_due(self) -> int:
        now = self.clock()
        with self.catalogue.session() as s:
            due = s.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            ).all()
            for d in due:
                self._attempt(s, d)
        return len(due)

    def _attempt(self, s: Any, d: WebhookDelivery) -> None:
        ev = s.get(OutboxEvent, d.event_id)
        ep = s.get(WebhookEndpoint, d.endpoint_id)
        now = self.clock()
        d.attempts += 1
        if ep is None or ep.disabled_at is not None:
            d.state, d.next_attempt_at, d.last_error = "failed", None, "endpoint disabled"
            return
        status, error, after = self.post(ep, ev, now)
        d.last_status, d.last_error = status, error
        if status is not None and 200 <= status < 300:
            d.state, d.delivered_at, d.next_attempt_at = "delivered", now, None
        elif status == 410:
            d.state, d.next_attempt_at = "failed", None
            ep.disabled_at, ep.disabled_reason = now, "the receiver answered 410 Gone"
            log.warning("webhook endpoint %s answered 410: disabled", ep.id)
        elif now - ev.created_at >= self.give_up_after:
            d.state, d.next_attempt_at = "failed", None
            log.error("ALARM webhook %s to endpoint %s: gave up", ev.id, ep.id)
        else:
            d.next_attempt_at = next_attempt(d.attempts, now, after)

    def post(
        self, ep: WebhookEndpoint, ev: OutboxEvent, now: datetime
    ) -> tuple[int | None, str | None, str | None]:
        """(status, error, Retry-After) of one signed POST."""
        try:
            check_target(ep.url, allow_private=self.endpoints.allow_private)
        except TargetRefused as exc:
            return None, str(exc), None
        body = message(ev)
        headers = signed_headers(ev.id, now, body, self.endpoints.secrets(ep))
        try:
            with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as c:
                r = c.post(ep.url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500], None
        error = None if r.is_success else f"HTTP {r.status_code}"
        return r.status_code, error, r.headers.get("retry-after")

    def test(self, endpoint_id: int) -> dict[str, Any]:
        """Send a signed `webhook.test` message to one endpoint now (not through the outbox)."""
        with self.catalogue.session() as s:
            ep = s.get(WebhookEndpoint, endpoint_id)
            if ep is None:
                raise WebhookError(f"no webhook endpoint {endpoint_id} (`callvault webhooks list`)")
            now = self.clock()
            ev = OutboxEvent(
                id="msg_" + uuid.uuid4().hex, type="webhook.test", payload="{}", created_at=now
            )
            status, error, _ = self.post(ep, ev, now)
        ok = status is not None and 200 <= status < 300
        return {"endpoint": endpoint_id, "id": ev.id, "status": status, "error": error, "ok": ok}

    def redeliver(self, delivery_id: int) -> dict[str, Any]:
        """A new attempt of a delivery now (a person's decision: delivered ones too)."""
        with self.catalogue.session() as s:
            d = s.get(WebhookDelivery, delivery_id)
            if d is None:
                raise WebhookError(f"no delivery {delivery_id} (`callvault webhooks deliveries`)")
            d.state, d.next_attempt_at = "pending", self.clock()
        self.send_due()
        return self.deliveries(delivery_id=delivery_id)[0]

    def deliveries(
        self, endpoint_id: int | None = None, delivery_id: int | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        with self.catalogue.session() as s:
            q = select(WebhookDelivery, OutboxEvent.type).join(
                OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id
            )
            if endpoint_id is not None:
                q = q.where(WebhookDelivery.endpoint_id == endpoint_id)
            if delivery_id is not None:
                q = q.where(WebhookDelivery.id == delivery_id)
            rows = s.execute(q.order_by(WebhookDelivery.id.desc()).limit(limit)).all()
            return [delivery_view(d, t) for d, t in rows]


def new_delivery(event_id: str, endpoint_id: int, now: datetime) -> WebhookDelivery:
    return WebhookDelivery(
        event_id=event_id,
        endpoint_id=endpoint_id,
        state="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


def delivery_view(d: WebhookDelivery, event_type: str) -> dict[str, Any]:
    return {
        "id": d.id,
        "event_id": d.event_id,
        "type": event_type,
        "endpoint": d.endpoint_id,
        "state": d.state,
        "attempts": d.attempts,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "next_attempt_at": d.next_attempt_at.isoformat() if d.next_attempt_at else None,
        "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
    }


class DeliveryWorker:
    """A thread for `callvault serve` (callvault.supervisor.Component)."""

    def __init__(self, deliverer: Deliverer, poll_s: float = 2.0) -> None:
        self.deliverer = deliverer
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="webhooks", daemon=True)

    def start(self) -> list[str]:
        self._thread.start()
        return [f"webhook delivery worker polling every {self.poll_s:g} s"]

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.deliverer.dispatch() + self.deliverer.send_due()
            except Exception as exc:  # the database may be down: try again next round
                log.error("webhook delivery round failed: %s: %s", type(exc).__name__, exc)
                busy = 0
            if not busy:
                self._stop.wait(self.poll_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
