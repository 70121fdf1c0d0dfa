"""Outbound webhooks against a real loopback receiver, on SQLite and PostgreSQL: signatures
verified by the standardwebhooks reference library; retries honour Retry-After; 410 disables;
a rotated secret signs beside the new one; SSRF targets refused; redelivery from the log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from callvault.wiring import Services
from storage.catalogue.models import WebhookDelivery
from storage.outbox import emit
from tests.hooks.receiver import Received, receiver
from webhooks.backoff import next_attempt, retry_after
from webhooks.delivery import Deliverer
from webhooks.endpoints import Endpoints
from webhooks.targets import TargetRefused


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def make(
    services: Services, clock: Clock, allow_private: bool = True
) -> tuple[Endpoints, Deliverer]:
    services.init()
    eps = Endpoints(services.catalogue, services.envelope, allow_private=allow_private, clock=clock)
    return eps, Deliverer(services.catalogue, eps, clock=clock)


def verify(secret: str, got: Received) -> dict[str, object]:
    out: dict[str, object] = Webhook(secret).verify(got.body, got.headers)
    return out


def test_signed_delivery_retry_after_and_redelivery(services: Services) -> None:
    clock = Clock()
    eps, d = make(services, clock)
    with receiver() as rec:
        rec.script = [(503, {"Retry-After": "120"}), (200, {})]
        _view, secret = eps.add(rec.url, ["recording.stored"], actor="tester")
        assert secret.startswith("whsec_")
        with services.catalogue.session() as s:
            emit(s, "recording.stored", {"recording_id": "r-1"})
            emit(s, "recording.destroyed", {"recording_id": "r-1"})  # not subscribed
        assert d.dispatch() == 1
        assert d.send_due() == 1
        [first] = rec.wait_for(1)
        msg = verify(secret, first)  # the reference library accepts our signature
        assert msg["type"] == "recording.stored"
        assert msg["data"] == {
            "recording_id": "r-1",
            "links": {"recording": "/api/v1/recordings/r-1"},
        }
        [log] = d.deliveries()
        assert (log["state"], log["attempts"], log["last_status"]) == ("pending", 1, 503)
        due = datetime.fromisoformat(log["next_attempt_at"])
        assert due >= clock.now + timedelta(seconds=120)  # Retry-After beats the 30 s backoff
        assert d.send_due() == 0  # not yet due
        clock.now = due
        assert d.send_due() == 1
        second = rec.wait_for(2)[1]
        assert second.headers["webhook-id"] == first.headers["webhook-id"]  # same message id
        verify(secret, second)
        assert d.deliveries()[0]["state"] == "delivered"
        again = d.redeliver(log["id"])  # by hand, from the log
        assert again["state"] == "delivered" and again["attempts"] == 3
        assert len(rec.wait_for(3)) == 3


def test_rotation_signs_with_both_secrets_then_only_the_new(services: Services) -> None:
    services.init()
    secrets_clock = Clock()  # when secrets expire; messages are signed at the real time
    eps = Endpoints(services.catalogue, services.envelope, allow_private=True, clock=secrets_clock)
    d = Deliverer(services.catalogue, eps)
    with receiver() as rec:
        view, old = eps.add(rec.url, ["consent.objected"], actor="tester")
        new = eps.rotate(view["id"], actor="tester")
        assert d.test(view["id"])["ok"]
        got = rec.wait_for(1)[0]
        assert len(got.headers["webhook-signature"].split(" ")) == 2
        verify(old, got)
        verify(new, got)
        secrets_clock.now += timedelta(hours=25)  # the overlap is over
        assert d.test(view["id"])["ok"]
        later = rec.wait_for(2)[1]
        assert len(later.headers["webhook-signature"].split(" ")) == 1
        verify(new, later)
        with pytest.raises(WebhookVerificationError):
            verify(old, later)


def test_410_disables_and_three_days_give_up(services: Services) -> None:
    clock = Clock()
    eps, d = make(services, clock)
    with receiver() as rec:
        none: dict[str, str] = {}
        rec.script = [(410, none)] + [(500, none)] * 50
        _gone, _ = eps.add(rec.url, ["request.due"], actor="tester")
        with services.catalogue.session() as s:
            emit(s, "request.due", {"request_id": "SR-1"})
        d.dispatch()
        d.send_due()
        assert eps.all()[0]["disabled_reason"] == "the receiver answered 410 Gone"
        assert d.deliveries()[0]["state"] == "failed"
        _flaky, _ = eps.add(rec.url, ["request.due"], actor="tester")
        with services.catalogue.session() as s:
            emit(s, "request.due", {"request_id": "SR-2"})
        assert d.dispatch() == 1  # the disabled endpoint gets nothing new
        start = clock.now
        while d.deliveries()[0]["state"] == "pending":
            d.send_due()
            nxt = d.deliveries()[0]["next_attempt_at"]
            if nxt:
                clock.now = datetime.fromisoformat(nxt)
        row = d.deliveries()[0]
        assert row["state"] == "failed" and row["last_status"] == 500
        assert timedelta(days=3) <= clock.now - start < timedelta(days=3, hours=7)
        assert 8 <= row["attempts"] <= 30


def test_private_targets_are_refused_unless_allowed(services: Services) -> None:
    eps, _ = make(services, Clock(), allow_private=False)
    for url in (
        "http://127.0.0.1:8080/x",
        "http://169.254.169.254/latest",
        "http://10.1.2.3/",
        "http://[::1]/",
        "ftp://example.org/",
        "http://user:pw@example.org/",
    ):
        with pytest.raises(TargetRefused):
            eps.add(url, ["recording.stored"], actor="tester")
    assert eps.all() == []


def test_backoff_grows_with_jitter_and_reads_http_dates() -> None:
    import random

    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    rng = random.Random(7)
    delays = [(next_attempt(n, now, None, rng) - now).total_seconds() for n in range(1, 12)]
    assert delays[0] <= 30 and delays[5] > delays[0] * 8
    assert max(delays) <= 6 * 3600
    assert retry_after("Wed, 02 Dec 2026 12:05:00 GMT", now) == 300
    assert retry_after("soon", now) is None


def test_secrets_are_sealed_not_in_clear(services: Services) -> None:
    eps, _ = make(services, Clock())
    _, secret = eps.add("http://127.0.0.1:9/x", ["recording.stored"], actor="tester")
    raw = secret.removeprefix("whsec_").encode()
    with services.catalogue.session() as s:
        from storage.catalogue.models import WebhookEndpoint

        row = s.query(WebhookEndpoint).one()
        assert raw not in row.secrets_sealed and secret.encode() not in row.secrets_sealed
        assert s.query(WebhookDelivery).count() == 0
    assert json.dumps(eps.all()).find("whsec_") == -1
