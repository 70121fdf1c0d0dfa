"""What each long-running process (`serve`, `agent`, `portal`, `worker`) adds to watch itself."""

from __future__ import annotations

from prometheus_client import REGISTRY

from callvault.observability.collector import AuditWatch, NodeCollector, Snapshot
from callvault.observability.health import readiness
from callvault.observability.logs import configure_logging
from callvault.observability.server import MetricsServer
from callvault.wiring import Services
from storage.errors import CallvaultError


class Observability:
    """A supervisor Component: the scrape-time gauges, the audit-chain watch and, when a port
    is configured, /metrics, /healthz and /readyz on it. Also applies [logging].

    ``portal``: the process also serves the portal's /metrics. With neither that nor a port,
    nobody can scrape: no thread reads the catalogue or walks the chain for nothing."""

    def __init__(
        self,
        svc: Services,
        *,
        role: str,
        port: int | None = None,
        portal: bool = False,
        verbose: bool = False,
    ) -> None:
        m = svc.settings.metrics
        configure_logging(svc.settings.logging, verbose=verbose)
        self.svc = svc
        self.role = role
        port = m.port if port is None else port
        self.scraped = bool(port) or portal
        # The chain walk reads every row: never in workers (there are many).
        watched = self.scraped and role != "worker"
        self.audit = AuditWatch(svc, m.audit_verify_interval_s) if watched else None
        self.snapshot = Snapshot(svc, m.refresh_s)
        self.collector = NodeCollector(svc, self.snapshot, self.audit)
        self.server: MetricsServer | None = None
        if port:
            try:
                self.server = MetricsServer(m.host, port, role=role, ready=lambda: readiness(svc))
            except OSError as exc:
                raise CallvaultError(
                    f"metrics.host/port {m.host}:{port}: cannot listen: {exc}"
                ) from exc
        self._registered = False

    def start(self) -> list[str]:
        REGISTRY.register(self.collector)
        self._registered = True
        if self.scraped:
            self.snapshot.start()
        if self.audit is not None:
            self.audit.start()
        return self.server.start() if self.server else []

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.audit is not None:
            self.audit.stop()
        self.snapshot.stop()
        if self._registered:
            REGISTRY.unregister(self.collector)
            self._registered = False
