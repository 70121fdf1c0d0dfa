"""`callvault portal [--host H] [--port P]`: the web portal and API alone, until stopped."""

from __future__ import annotations

import argparse
import logging

from callvault.cli.registry import Context, Registrar

log = logging.getLogger("callvault.portal")


def cmd_portal(args: argparse.Namespace, ctx: Context) -> int:
    from callvault.observability.node import Observability
    from callvault.portal_runner import PortalComponent
    from callvault.supervisor import supervise
    from retention_jobs.stopping import StopRequest

    svc = ctx.services()
    if svc.settings.portal.workers > 1:
        from callvault.portal_runner import serve_workers

        serve_workers(svc, ctx.config, args.host, args.port)
        return 0
    watch = Observability(svc, role="portal", portal=True, verbose=args.verbose)
    component = PortalComponent(svc, args.host, args.port)
    failed = supervise([watch, component], StopRequest(), what="serving the portal", logger=log)
    if failed is not None:
        from storage.errors import CallvaultError

        raise CallvaultError(f"the portal stopped: {failed}") from failed
    return 0


def register(cli: Registrar) -> None:
    p = cli.command(
        "portal",
        cmd_portal,
        "the supervisor portal and JSON API alone ([portal] in callvault.toml)",
        json_flag=False,
    )
    p.add_argument("--host", help="address to listen on (default portal.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default portal.port, 8080)")
