"""Wiring of the portal: Settings + Services → the ASGI app, and uvicorn to serve it, alone
(`callvault portal`) or as a component beside the agent and the scheduler (`callvault serve`)."""

from __future__ import annotations

import logging
import os
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from callvault.observability.health import readiness
from callvault.wiring import Services

log = logging.getLogger("callvault.portal")
# Connections for decisions, per process: more than the decisions one process runs at once
# (2 cores), few enough that [portal] workers of them fit PostgreSQL's max_connections.
DECISION_CONNECTIONS = 10


def build_app(svc: Services, *, primary: bool = True) -> Any:
    """The portal's ASGI app. ``primary=False`` (a worker of `[portal] workers`): the
    start-up recovery of uploads and the spool's resume are the parent's, not each worker's."""
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
    return create_app(ctx, build_hooks(svc, ctx.users, primary=primary))


def build_hooks(svc: Services, users: Any, *, primary: bool = True) -> Any:
    """The platform hooks' services (/hooks/v1), from [hooks] and [consent]."""
    from consent.do_not_record import DoNotRecordList
    from consent.notices import NoticeCatalogue
    from portal.hooks.audit_batch import DecisionAudit
    from portal.hooks.auth import TokenCache
    from portal.hooks.calls import CallEvents
    from portal.hooks.decide import ConsentTerms, Decider, decision_engine
    from portal.hooks.service import HooksService

    s = svc.settings
    c, h = s.consent, s.hooks
    terms = ConsentTerms(c.lawful_basis, tuple(c.purposes), c.objection_digit)
    notices = NoticeCatalogue.from_config(c.notices, s.base_dir)
    uploads = hook_uploads(svc)
    if primary:
        for line in uploads.recover():
            log.warning("%s", line)
    hooks = HooksService(
        tokens=TokenCache(users, float(h.token_cache_s)),
        decider=Decider(
            svc.catalogue,
            DoNotRecordList(svc.catalogue, svc.hasher),
            notices,
            terms,
            engine=decision_engine(svc.catalogue.url, DECISION_CONNECTIONS),
        ),
        uploads=uploads,
        events=CallEvents(svc.catalogue),
        audit=DecisionAudit(svc.catalogue),
    )
    hooks.start(resume=primary)
    return hooks


def hook_uploads(svc: Services) -> Any:
    from portal.hooks.uploads import UploadLimits, Uploads

    h = svc.settings.hooks
    return Uploads(
        svc.catalogue,
        svc.pipeline(),
        svc.spool,
        UploadLimits(h.max_upload_mb * 1024 * 1024, float(h.answer_within_s)),
    )


def url(host: str, port: int, tls: bool) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}/"


def uvicorn_options(svc: Services, host: str | None, port: int | None) -> dict[str, Any]:
    p = svc.settings.portal
    return {
        "host": host or p.host,
        "port": p.port if port is None else port,
        "ssl_certfile": str(p.tls_cert) if p.tls_cert else None,
        "ssl_keyfile": str(p.tls_key) if p.tls_key else None,
        "proxy_headers": p.behind_tls_proxy,
        "server_header": False,
        "log_config": None,  # our logging set-up; the access log shows paths, never numbers
        "lifespan": "off",
    }


def uvicorn_server(svc: Services, host: str | None = None, port: int | None = None) -> Any:
    import uvicorn

    return uvicorn.Server(uvicorn.Config(build_app(svc), **uvicorn_options(svc, host, port)))


WORKER_CONFIG = "_CALLVAULT_PORTAL_WORKER_CONFIG"  # the config path, for the workers


def serve_workers(
    svc: Services, config: Path | None, host: str | None = None, port: int | None = None
) -> None:
    """`callvault portal` with `[portal] workers` > 1: uvicorn's process manager runs that many
    worker processes on one listening socket (each its own app, engine and pools; spawned, so
    each reads the configuration again, from the same file and environment). This process
    first recovers interrupted uploads once, then finishes the spool's jobs in the
    background; the workers do neither. uvicorn restarts a worker that dies and stops them all
    on SIGINT/SIGTERM."""
    import uvicorn

    uploads = hook_uploads(svc)
    for line in uploads.recover():
        log.warning("%s", line)
    uploads.resume_in_background()
    os.environ[WORKER_CONFIG] = str(config.resolve()) if config is not None else ""
    opts = uvicorn_options(svc, host, port)
    log.info(
        "portal listening on %s with %d workers",
        url(opts["host"], opts["port"], opts["ssl_certfile"] is not None),
        svc.settings.portal.workers,
    )
    try:
        uvicorn.run(
            "callvault.portal_runner:worker_app",
            factory=True,
            workers=svc.settings.portal.workers,
            **opts,
        )
    finally:
        uploads.close()


def worker_app() -> Any:
    """One worker's app (uvicorn's factory, in a spawned process)."""
    import sys

    from callvault.cli.app import _NOISY
    from callvault.observability.logs import configure_logging
    from callvault.settings import load_settings

    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    path = os.environ.get(WORKER_CONFIG) or None
    settings = load_settings(Path(path) if path else None)
    configure_logging(settings.logging)
    return build_app(Services.build(settings), primary=False)


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
