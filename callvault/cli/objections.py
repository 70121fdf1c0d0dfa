"""`callvault objections add|remove|list`: the standing do-not-record list (audited)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from callvault.cli.common import actor
from callvault.cli.output import Column, emit, note, table
from callvault.cli.registry import Context, Registrar

if TYPE_CHECKING:
    from consent.do_not_record import DoNotRecordList

COLUMNS = (
    Column("HASH", lambda r: r["caller_hash"][:16] + "…"),
    Column("ADDED (UTC)", lambda r: r["added_at"][:19]),
    Column("BY", lambda r: r["added_by"], 12, after=" "),
    Column("REASON", lambda r: r["reason"]),
)


def _list(ctx: Context) -> DoNotRecordList:
    from consent.do_not_record import DoNotRecordList

    svc = ctx.services()
    return DoNotRecordList(svc.catalogue, svc.hasher)


def cmd_objections_add(args: argparse.Namespace, ctx: Context) -> int:
    r = _list(ctx).add(args.number, reason=args.reason, actor=actor())
    emit(args, r, lambda: print(f"added {r['caller_hash'][:16]}… to the do-not-record list"))
    return 0


def cmd_objections_remove(args: argparse.Namespace, ctx: Context) -> int:
    h = _list(ctx).remove(args.number, actor=actor(), reason=args.reason or "")
    emit(args, {"caller_hash": h}, lambda: print(f"removed {h[:16]}…"))
    return 0


def cmd_objections_list(args: argparse.Namespace, ctx: Context) -> int:
    rows = _list(ctx).list()

    def human() -> None:
        table(rows, COLUMNS)
        note(
            f"{len(rows)} caller(s) on the do-not-record list (numbers are kept only as "
            "keyed hashes)"
        )

    emit(args, rows, human)
    return 0


def register(cli: Registrar) -> None:
    obj = cli.group("objections", "the standing do-not-record list (audited)")
    oa = obj.command("add", cmd_objections_add, "never record calls from this number")
    oa.add_argument("number")
    oa.add_argument("--reason", required=True)
    orm = obj.command("remove", cmd_objections_remove, "take a number off the list")
    orm.add_argument("number")
    orm.add_argument("--reason")
    obj.command("list", cmd_objections_list, "entries (as keyed hashes, never numbers)")
