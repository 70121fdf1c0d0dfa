"""`callvault agent`, `calls …` and `objections …` (see cli.build_parser)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from callvault.agent_runner import AgentComponent
from callvault.cli_common import actor, emit
from callvault.wiring import Services
from consent.do_not_record import DoNotRecordList
from retention_jobs.stopping import StopRequest, stop_on_signals

log = logging.getLogger("callvault")


def cmd_agent(args: argparse.Namespace, svc: Services) -> int:
    svc.catalogue.require_current()
    stop = StopRequest()
    component = AgentComponent(
        svc,
        host=args.sip_host,
        port=args.sip_port,
        queue_uri=args.queue_uri,
        control_port=args.control_port,
    )
    try:
        with stop_on_signals(stop):
            for line in component.start():
                log.info(line)
            log.info("agent running (pid %d); SIGTERM or Ctrl-C stops", os.getpid())
            while not stop.is_set() and not component.failed:
                time.sleep(0.2)
    finally:
        component.stop()
    if component.failed:
        print(f"callvault: {component.failed}", file=sys.stderr)
        return 1
    return 0


def _client(svc: Services) -> Any:
    from telephony.control import ControlClient

    return ControlClient(svc.settings.sip.control_token_file)


def cmd_calls_list(args: argparse.Namespace, svc: Services) -> int:
    calls = _client(svc).calls()

    def human() -> None:
        for c in calls:
            print(
                f"{c['flow_id']}  {c['state']:<10}  {c['service']:<18}  "
                f"{'recording' if c['recording'] else c['outcome']:<16}  {c['call_id']}"
            )
        print(f"{len(calls)} live call(s)", file=sys.stderr)

    emit(args, calls, human)
    return 0


def cmd_calls_pause(args: argparse.Namespace, svc: Services) -> int:
    view = _client(svc).pause(args.call_id, resume=args.resume)
    emit(args, view, lambda: print(f"{view['flow_id']}  {view['state']}"))
    return 0


def cmd_objections_add(args: argparse.Namespace, svc: Services) -> int:
    svc.catalogue.require_current()
    r = DoNotRecordList(svc.catalogue, svc.hasher).add(
        args.number, reason=args.reason, actor=actor()
    )
    emit(args, r, lambda: print(f"added {r['caller_hash'][:16]}… to the do-not-record list"))
    return 0


def cmd_objections_remove(args: argparse.Namespace, svc: Services) -> int:
    svc.catalogue.require_current()
    h = DoNotRecordList(svc.catalogue, svc.hasher).remove(
        args.number, actor=actor(), reason=args.reason or ""
    )
    emit(args, {"caller_hash": h}, lambda: print(f"removed {h[:16]}…"))
    return 0


def cmd_objections_list(args: argparse.Namespace, svc: Services) -> int:
    svc.catalogue.require_current()
    rows = DoNotRecordList(svc.catalogue, svc.hasher).list()

    def human() -> None:
        for r in rows:
            print(
                f"{r['caller_hash'][:16]}…  {r['added_at'][:19]}  {r['added_by']:<12} {r['reason']}"
            )
        print(
            f"{len(rows)} caller(s) on the do-not-record list (numbers are kept only as "
            "keyed hashes)",
            file=sys.stderr,
        )

    emit(args, rows, human)
    return 0


def register(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    ag = add(
        "agent", cmd_agent, "run the SIP agent (answer, notice, bridge, record)", json_flag=False
    )
    ag.add_argument("--sip-host")
    ag.add_argument("--sip-port", type=int)
    ag.add_argument("--queue-uri")
    ag.add_argument("--control-port", type=int)

    calls = sub.add_parser("calls", help="live calls on the running agent")
    csub = calls.add_subparsers(dest="action", required=True, metavar="ACTION")
    add("list", cmd_calls_list, "live calls", csub)
    for name, resume in (("pause", False), ("resume", True)):
        p = add(name, cmd_calls_pause, f"{name} recording of a live call (card payments)", csub)
        p.add_argument("call_id", metavar="CALL-ID", help="SIP Call-ID or flow ID (prefix)")
        p.set_defaults(resume=resume)

    obj = sub.add_parser("objections", help="the standing do-not-record list (audited)")
    osub = obj.add_subparsers(dest="action", required=True, metavar="ACTION")
    oa = add("add", cmd_objections_add, "never record calls from this number", osub)
    oa.add_argument("number")
    oa.add_argument("--reason", required=True)
    orm = add("remove", cmd_objections_remove, "take a number off the list", osub)
    orm.add_argument("number")
    orm.add_argument("--reason")
    add("list", cmd_objections_list, "entries (as keyed hashes, never numbers)", osub)
