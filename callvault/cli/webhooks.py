"""`callvault webhooks add|list|remove|test|deliveries|redeliver|rotate-secret`: outbound
webhooks (Standard Webhooks; delivered by `callvault serve`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from callvault.cli.common import actor
from callvault.cli.output import Column, emit, note, table
from callvault.cli.registry import Context, Registrar, UsageError

EVENTS = ("recording.stored", "recording.destroyed", "request.due", "consent.objected")


def _events(value: str) -> list[str]:
    names = [e.strip() for e in value.split(",") if e.strip()]
    unknown = [e for e in names if e not in EVENTS]
    if not names or unknown:
        raise UsageError(
            f"--events: unknown {', '.join(unknown) or '(none)'}; choose from {', '.join(EVENTS)}"
        )
    return names


def cmd_add(args: argparse.Namespace, ctx: Context) -> int:
    from callvault.webhooks_runner import endpoints

    view, secret = endpoints(ctx.services()).add(args.url, _events(args.events), actor=actor())
    out = {**view, "secret": secret}
    emit(args, out, lambda: print(f"endpoint {view['id']}: {view['url']}\n{secret}"))
    note("the signing secret is shown once: give it to the receiver")
    return 0


ENDPOINT_COLUMNS = (
    Column("ID", lambda e: e["id"], 4, ">"),
    Column("URL", lambda e: e["url"], 40),
    Column("EVENTS", lambda e: ",".join(e["events"]), 40),
    Column("DISABLED", lambda e: e["disabled_reason"]),
)


def cmd_list(args: argparse.Namespace, ctx: Context) -> int:
    from callvault.webhooks_runner import endpoints

    rows = endpoints(ctx.services()).all()
    emit(args, rows, lambda: table(rows, ENDPOINT_COLUMNS, header=True, count="endpoint(s)"))
    return 0


def cmd_remove(args: argparse.Namespace, ctx: Context) -> int:
    from callvault.webhooks_runner import endpoints

    endpoints(ctx.services()).remove(args.id, actor=actor())
    emit(args, {"removed": args.id}, lambda: print(f"endpoint {args.id} removed"))
    return 0


def cmd_rotate(args: argparse.Namespace, ctx: Context) -> int:
    from callvault.webhooks_runner import endpoints

    secret = endpoints(ctx.services()).rotate(args.id, actor=actor())
    emit(args, {"id": args.id, "secret": secret}, lambda: print(secret))
    note("the new secret is shown once; the old one keeps signing for 24 hours beside it")
    return 0


def cmd_test(args: argparse.Namespace, ctx: Context) -> int:
    from callvault.webhooks_runner import deliverer

    result = deliverer(ctx.services()).test(args.id)
    emit(args, result, lambda: print(json.dumps(result)))
    return 0 if result["ok"] else 1


DELIVERY_COLUMNS = (
    Column("ID", lambda d: d["id"], 5, ">"),
    Column("EVENT", lambda d: d["type"], 20),
    Column("ENDPOINT", lambda d: d["endpoint"], 8, ">"),
    Column("STATE", lambda d: d["state"], 10),
    Column("TRIES", lambda d: d["attempts"], 5, ">"),
    Column("LAST", lambda d: d["last_error"] or d["last_status"], 20),
    Column("NEXT", lambda d: d["next_attempt_at"]),
)


def cmd_deliveries(args: argparse.Namespace, ctx: Context) -> int:
    from callvault.webhooks_runner import deliverer

    rows = deliverer(ctx.services()).deliveries(endpoint_id=args.endpoint, limit=args.limit)
    emit(args, rows, lambda: table(rows, DELIVERY_COLUMNS, header=True, count="delivery(ies)"))
    return 0


def cmd_redeliver(args: argparse.Namespace, ctx: Context) -> int:
    from callvault.webhooks_runner import deliverer

    row: dict[str, Any] = deliverer(ctx.services()).redeliver(args.id)
    emit(args, row, lambda: table([row], DELIVERY_COLUMNS, header=True))
    return 0 if row["state"] == "delivered" else 1


def register(cli: Registrar) -> None:
    g = cli.group("webhooks", "outbound webhooks: add, list, remove, test, deliveries, redeliver")
    add = g.command("add", cmd_add, "add an endpoint; prints its whsec_ signing secret once")
    add.add_argument("url")
    add.add_argument("--events", required=True, help=f"comma-separated: {', '.join(EVENTS)}")
    g.command("list", cmd_list, "list endpoints")
    for name, fn, what in (
        ("remove", cmd_remove, "remove an endpoint (its deliveries go with it)"),
        ("rotate-secret", cmd_rotate, "a new secret; the old one signs beside it for 24 h"),
        ("test", cmd_test, "send a signed webhook.test message now and show the answer"),
    ):
        p = g.command(name, fn, what)
        p.add_argument("id", type=int, help="endpoint id (`webhooks list`)")
    d = g.command("deliveries", cmd_deliveries, "the delivery log, newest first")
    d.add_argument("--endpoint", type=int)
    d.add_argument("--limit", type=int, default=50)
    r = g.command("redeliver", cmd_redeliver, "send a delivery again now")
    r.add_argument("id", type=int, help="delivery id (`webhooks deliveries`)")
