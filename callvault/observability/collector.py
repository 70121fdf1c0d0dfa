"""Gauges read at scrape time: this node's spool, the shared queues, the audit chain, readiness.

The catalogue's figures (compression backlog, webhook backlog) are the same on every node;
aggregate them with max() in Prometheus, not sum(). They and readiness are refreshed on a
thread every `metrics.refresh_s`, and the audit chain every `metrics.audit_verify_interval_s`:
a scrape only reads what they found (and the spool, on local disk).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from callvault.observability.health import readiness
from callvault.wiring import Services

log = logging.getLogger("callvault.metrics")


class Periodic:
    """A daemon thread calling refresh() now and every interval_s; failures are logged."""

    name = "watch"

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)

    def refresh(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                self.refresh()
            except Exception as exc:  # the catalogue may be down: keep the last answer
                log.warning("%s: %s", self.name, type(exc).__name__)
            if self._stop.wait(self.interval_s):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)


class AuditWatch(Periodic):
    """Walks the audit chain now and then; keeps the last answer for the collector."""

    name = "audit-watch"

    def __init__(self, svc: Services, interval_s: float) -> None:
        super().__init__(interval_s)
        self.svc = svc
        self.ok: bool | None = None  # None: not verified yet
        self.checked_at: float | None = None

    def refresh(self) -> None:
        from storage.audit import verify_chain

        with self.svc.catalogue.session() as s:
            result = verify_chain(s)
        if not result.ok and self.ok is not False:
            log.error(
                "ALARM audit chain broken at row %s: %s", result.first_bad_seq, result.problem
            )
        self.ok, self.checked_at = result.ok, time.time()


class Snapshot(Periodic):
    """Readiness and the catalogue's queue figures, refreshed on a thread: a scrape never waits
    on a store or a database that does not answer (it would time out and lose every metric)."""

    name = "metrics-snapshot"

    def __init__(self, svc: Services, interval_s: float) -> None:
        super().__init__(interval_s)
        self.svc = svc
        self.ready: dict[str, str] = {}
        self.backlog: dict[str, int] | None = None
        self.webhooks: int | None = None

    def refresh(self) -> None:
        self.ready = readiness(self.svc)
        if self.ready.get("catalogue") != "ok":
            self.backlog = self.webhooks = None
            return
        self.backlog, self.webhooks = _catalogue_figures(self.svc)


def _catalogue_figures(svc: Services) -> tuple[dict[str, int], int]:
    from storage import compression_queue
    from storage.catalogue.models import OutboxEvent, WebhookDelivery

    with svc.catalogue.session() as s:
        backlog = compression_queue.backlog(s)
        pending = s.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.state == "pending")
        )
        undispatched = s.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
        )
    return backlog, int(pending or 0) + int(undispatched or 0)


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


class NodeCollector(Collector):
    """The scrape-time gauges of one process (prometheus_client custom collector)."""

    def __init__(self, svc: Services, snapshot: Snapshot, audit: AuditWatch | None = None) -> None:
        self.svc = svc
        self.snapshot = snapshot
        self.audit = audit

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families().values()

    def _families(self) -> dict[str, GaugeMetricFamily]:
        return {
            "ready": _gauge(
                "callvault_ready",
                "1 when the check passes (catalogue, store, keys, spool)",
                ["check"],
            ),
            "spool_jobs": _gauge(
                "callvault_spool_jobs", "Ingest jobs waiting in this node's spool"
            ),
            "spool_age": _gauge(
                "callvault_spool_oldest_job_age_seconds",
                "Age of the oldest ingest job in this node's spool (0 when empty)",
            ),
            "spool_calls": _gauge(
                "callvault_spool_calls", "Call directories in this node's spool (live or left)"
            ),
            "compression": _gauge(
                "callvault_compression_backlog", "Compression jobs by state (catalogue)", ["state"]
            ),
            "webhooks": _gauge(
                "callvault_webhook_backlog",
                "Webhook deliveries pending plus outbox events not yet dispatched (catalogue)",
            ),
            "audit_ok": _gauge(
                "callvault_audit_chain_ok", "1 when the audit chain verified, 0 when broken"
            ),
            "audit_at": _gauge(
                "callvault_audit_chain_verified_timestamp_seconds",
                "When the audit chain was last verified by this process",
            ),
        }

    def collect(self) -> Iterator[GaugeMetricFamily]:
        f = self._families()
        snap = self.snapshot
        for check, state in snap.ready.items():
            f["ready"].add_metric([check], 1.0 if state == "ok" else 0.0)
        jobs, oldest = self._spool_jobs()
        f["spool_jobs"].add_metric([], jobs)
        f["spool_age"].add_metric([], oldest)
        calls = self.svc.spool.calls_dir
        f["spool_calls"].add_metric([], sum(1 for _ in calls.iterdir()) if calls.is_dir() else 0)
        backlog, webhooks = snap.backlog, snap.webhooks  # None: catalogue down (see ready)
        if backlog is not None and webhooks is not None:
            for state in sorted(set(backlog) | {"queued", "replaced", "failed"}):
                f["compression"].add_metric([state], backlog.get(state, 0))
            f["webhooks"].add_metric([], webhooks)
        if self.audit is not None and self.audit.ok is not None:
            f["audit_ok"].add_metric([], 1.0 if self.audit.ok else 0.0)
            f["audit_at"].add_metric([], self.audit.checked_at or 0.0)
        yield from f.values()

    def _spool_jobs(self) -> tuple[int, float]:
        jobs_dir = self.svc.spool.jobs_dir
        if not jobs_dir.is_dir():
            return 0, 0.0
        times = []
        for p in jobs_dir.iterdir():
            try:
                times.append(p.stat().st_mtime)
            except FileNotFoundError:  # finished while we looked
                continue
        return len(times), (max(0.0, time.time() - min(times)) if times else 0.0)
