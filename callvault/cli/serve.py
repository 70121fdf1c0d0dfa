"""`callvault serve`: the SIP agent and the scheduled jobs (callvault.jobs) until stopped."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

from callvault.cli.registry import Context, Registrar

if TYPE_CHECKING:
    from callvault.wiring import Services

log = logging.getLogger("callvault.retention")


def cmd_serve(args: argparse.Namespace, ctx: Context) -> int:
    from callvault.jobs import RENAMED, Node, job_specs, serving
    from callvault.observability.node import Observability
    from callvault.supervisor import Component, ServeError, supervise
    from retention_jobs.scheduler import ScheduledJobs
    from retention_jobs.stopping import StopRequest

    svc = ctx.services()
    settings = svc.settings
    components: list[Component] = [
        Observability(svc, role="serve", portal=not args.no_portal, verbose=args.verbose),
        ScheduledJobs(
            job_specs(settings),
            database_url=settings.database.url,
            timezone=settings.schedule.timezone,
            shared_store=settings.schedule.purge_enabled,
            renamed=RENAMED,
        ),
    ]
    if settings.worker.processes and not args.no_workers and _can_compress(svc):
        from callvault.supervisor import WorkerPool

        components.append(
            WorkerPool(
                settings.worker.processes,
                config=settings.config_file,
                cwd=settings.base_dir,
                metrics_port=settings.metrics.worker_port,
            )
        )
    if not args.no_agent:
        from callvault.agent_runner import AgentComponent

        components.append(AgentComponent(svc))
    if not args.no_portal:
        from callvault.portal_runner import PortalComponent

        components.append(PortalComponent(svc))
    from callvault.webhooks_runner import worker

    components.append(worker(svc))  # outbound webhooks: the outbox's delivery worker
    stop = StopRequest()
    with serving(Node(settings.config_file, stop)):
        failed = supervise(components, stop, logger=log)
    if failed is not None:
        raise ServeError(f"serve stopped because a component failed: {failed}") from failed
    log.info("stopped")
    return 0


def _can_compress(svc: Services) -> bool:
    """Workers need the private key-encryption key; a recorder in hpke mode has none."""
    from storage.errors import KeyUnavailableError

    try:
        svc.compressor().check_keys()
    except KeyUnavailableError as exc:
        log.warning("no compression workers on this node: %s", exc)
        return False
    return True


def register(cli: Registrar) -> None:
    serve = cli.command(
        "serve",
        cmd_serve,
        "SIP agent + portal + scheduled jobs (retention purge, spool resume) until SIGTERM/SIGINT",
        json_flag=False,
    )
    serve.add_argument(
        "--no-agent",
        action="store_true",
        help="only the scheduled jobs (a node that takes no calls)",
    )
    serve.add_argument(
        "--no-workers",
        action="store_true",
        help="start no compression workers (run `callvault worker` elsewhere)",
    )
    serve.add_argument(
        "--no-portal",
        action="store_true",
        help="without the web portal and API (run them with `callvault portal`)",
    )
