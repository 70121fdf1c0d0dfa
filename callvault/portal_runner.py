"""Wiring of the portal: Settings + Services → the ASGI app, and uvicorn to serve it, alone
(`callvault portal`) or as a component beside the agent and the scheduler (`callvault serve`)."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from callvault.observability.health import readiness
from callvault.wiring import Services

log = logging.getLogger("callvault.portal")
DECISION_THREADS = 40  # anyio's default thread limiter: the sync routes' threads


def build_app(svc: Services) -> Any:
    from portal.app import create_app
    from portal.auth.users import Throttle
    from portal.context import PortalConfig, PortalContext

    p = svc.settings.portal
    config = PortalConfig(
        secure_cookies=p.tls_cert is not None or p.behind_tls_proxy,
        idle_timeout=timedelta(seconds=p.session_idle_timeout_s),
        grant_lifetime=timedelta(seconds=p.playback_grant_s),
        ffmpeg=svc.settings.audio.ffmpeg,
        throttle=Throttle(p.max_failed_logins, timedelta(seconds=p.failed_login_window_s)),
    )
    ctx = PortalContext(
        config=config,
        catalogue=svc.catalogue,
        recordings=svc.recordings(),
        caller_hash=lambda number: svc.hasher.hash(number),
        ready=lambda: readiness(svc),
    )
    return create_app(ctx, build_hooks(svc, ctx.users))


def build_hooks(svc: Services, users: Any) -> Any:
    """The platform hooks' services (/hooks/v1), from [hooks] and [consent]."""
    from consent.do_not_record import DoNotRecordList
    from consent.notices import NoticeCatalogue
    from portal.hooks.audit_batch import DecisionAudit
    from portal.hooks.auth import TokenCache
    from portal.hooks.calls import CallEvents
    from portal.hooks.decide import ConsentTerms, Decider, decision_engine
    from portal.hooks.service import HooksService
    from portal.hooks.uploads import UploadLimits, Uploads

    s = svc.settings
    c, h = s.consent, s.hooks
    terms = ConsentTerms(c.lawful_basis, tuple(c.purposes), c.objection_digit)
    notices = NoticeCatalogue.from_config(c.notices, s.base_dir)
    uploads = Uploads(
        svc.catalogue,
        svc.pipeline(),
        svc.spool,
        UploadLimits(h.max_upload_mb * 1024 * 1024, float(h.answer_within_s)),
    )
    for line in uploads.recover():
        log.warning("%s", line)
    hooks = HooksService(
        tokens=TokenCache(users, float(h.token_cache_s)),
        decider=Decider(
            svc.catalogue,
            DoNotRecordList(svc.catalogue, svc.hasher),
            notices,
            terms,
            engine=decision_engine(svc.catalogue.url, DECISION_THREADS),
        ),
        uploads=uploads,
        events=CallEvents(svc.catalogue),
        audit=DecisionAudit(svc.catalogue),
    )
    hooks.start()
    return hooks


def url(host: str, port: int, tls: bool) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}/"


def uvicorn_server(svc: Services, host: str | None = None, port: int | None = None) -> Any:
    import uvicorn

    p = svc.settings.portal
    config = uvicorn.Config(
        build_app(svc),
        host=host or p.host,
        port=p.port if port is None else port,
        ssl_certfile=str(p.tls_cert) if p.tls_cert else None,
        ssl_keyfile=str(p.tls_key) if p.tls_key else None,
        proxy_headers=p.behind_tls_proxy,
        server_header=False,
        log_config=None,  # our logging set-up; the access log shows paths, never numbers
        lifespan="off",
    )
    return uvicorn.Server(config)


class PortalComponent:
    """uvicorn on its own thread, for `callvault serve` (callvault.supervisor.Component)."""

    def __init__(self, svc: Services, host: str | None = None, port: int | None = None) -> None:
        self.svc = svc
        self.server = uvicorn_server(svc, host, port)
        self._thread: threading.Thread | None = None
        self.failed: BaseException | None = None

    def start(self) -> list[str]:
        def run() -> None:
            try:
                self.server.run()
                if not self.server.should_exit:
                    raise RuntimeError("the portal's HTTP server stopped by itself")
            except BaseException as exc:
                self.failed = exc

        self._thread = threading.Thread(target=run, name="portal", daemon=True)
        self._thread.start()
        while not self.server.started and self.failed is None and self._thread.is_alive():
            self._thread.join(0.05)
        if self.failed is not None or not self.server.started:
            raise RuntimeError(f"the portal did not start: {self.failed or 'see the log above'}")
        c = self.server.config
        return [f"portal listening on {url(c.host, c.port, c.ssl_certfile is not None)}"]

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
