"""`callvault agent`: the SIP agent alone (answer, notice, bridge, record)."""

from __future__ import annotations

import argparse
import logging

from callvault.cli.registry import Context, Registrar, fail

log = logging.getLogger("callvault")


def cmd_agent(args: argparse.Namespace, ctx: Context) -> int:
    from callvault.agent_runner import AgentComponent
    from callvault.observability.node import Observability
    from callvault.supervisor import supervise
    from retention_jobs.stopping import StopRequest

    svc = ctx.services()
    watch = Observability(svc, role="agent", verbose=args.verbose)
    component = AgentComponent(
        svc,
        host=args.sip_host,
        port=args.sip_port,
        queue_uri=args.queue_uri,
        control_port=args.control_port,
    )
    failed = supervise([watch, component], StopRequest(), what="agent running", logger=log)
    return fail(str(failed)) if failed else 0


def register(cli: Registrar) -> None:
    ag = cli.command(
        "agent", cmd_agent, "run the SIP agent (answer, notice, bridge, record)", json_flag=False
    )
    ag.add_argument("--sip-host")
    ag.add_argument("--sip-port", type=int)
    ag.add_argument("--queue-uri")
    ag.add_argument("--control-port", type=int)
