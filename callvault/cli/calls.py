"""`callvault calls list|pause|resume`: live calls on the running agent (its control socket).

These commands are clients of a running agent: they need only its token file, so they load no
catalogue, keys or object store.
"""

from __future__ import annotations

import argparse
from typing import Any

from callvault.cli.output import Column, emit, table
from callvault.cli.registry import Context, Registrar

COLUMNS = (
    Column("FLOW", lambda c: c["flow_id"]),
    Column("STATE", lambda c: c["state"], 10),
    Column("SERVICE", lambda c: c["service"], 18),
    Column("RECORDING", lambda c: "recording" if c["recording"] else c["outcome"], 16),
    Column("CALL-ID", lambda c: c["call_id"]),
)


def _client(ctx: Context) -> Any:
    from telephony.control_client import ControlClient

    return ControlClient(ctx.client_settings().sip.control_token_file)


def cmd_calls_list(args: argparse.Namespace, ctx: Context) -> int:
    calls = _client(ctx).calls()
    emit(args, calls, lambda: table(calls, COLUMNS, count="live call(s)"))
    return 0


def cmd_calls_pause(args: argparse.Namespace, ctx: Context) -> int:
    view = _client(ctx).pause(args.call_id, resume=args.resume)
    emit(args, view, lambda: print(f"{view['flow_id']}  {view['state']}"))
    return 0


def register(cli: Registrar) -> None:
    calls = cli.group("calls", "live calls on the running agent")
    calls.command("list", cmd_calls_list, "live calls")
    for name, resume in (("pause", False), ("resume", True)):
        p = calls.command(name, cmd_calls_pause, f"{name} recording of a live call (card payments)")
        p.add_argument("call_id", metavar="CALL-ID", help="SIP Call-ID or flow ID (prefix)")
        p.set_defaults(resume=resume)
