"""`callvault hold add|release|list`: legal holds (held recordings are never destroyed)."""

from __future__ import annotations

import argparse

from callvault.cli.common import actor
from callvault.cli.output import Column, emit, note, one_line, table
from callvault.cli.registry import Context, Registrar

COLUMNS = (
    Column("REFERENCE", lambda h: h["reference"], 24, after=" "),
    Column(
        "STATE",
        lambda h: "active" if h["active"] else f"released {h['released_at'][:19]}",
        28,
        after=" ",
    ),
    Column("RECORDINGS", lambda h: len(h["covered_recordings"]), 6, ">", after=" recording(s)  "),
    Column("REASON", lambda h: h["reason"]),
)


def cmd_hold_add(args: argparse.Namespace, ctx: Context) -> int:
    view = (
        ctx.services()
        .holds()
        .add(
            args.reference,
            args.reason,
            actor=actor(),
            recordings=args.recording,
            case_ids=args.case_id,
        )
    )

    def human() -> None:
        print(
            f"hold {one_line(view['reference'])} added: covers "
            f"{len(view['covered_recordings'])} recording(s) now"
            + (
                " and any recording tagged later with case id(s) "
                + one_line(", ".join(view["case_ids"]))
                if view["case_ids"]
                else ""
            )
        )

    emit(args, view, human)
    if view["already_destroyed_or_destroying"]:
        note(
            f"callvault: warning: {len(view['already_destroyed_or_destroying'])} recording(s) "
            "of these cases were already destroyed or being destroyed: "
            + ", ".join(view["already_destroyed_or_destroying"])
        )
    return 0


def cmd_hold_release(args: argparse.Namespace, ctx: Context) -> int:
    view = ctx.services().holds().release(args.reference, actor=actor(), reason=args.reason)
    emit(
        args,
        view,
        lambda: print(
            f"hold {one_line(view['reference'])} released; {len(view['expired_now_unheld'])} "
            "expired recording(s) are no longer held: the next retention run destroys them"
        ),
    )
    return 0


def cmd_hold_list(args: argparse.Namespace, ctx: Context) -> int:
    holds = ctx.services().holds().list_holds(include_released=args.all)
    emit(args, holds, lambda: table(holds, COLUMNS, count="hold(s)"))
    return 0


def register(cli: Registrar) -> None:
    hold = cli.group("hold", "legal holds: held recordings are never destroyed")
    ha = hold.command("add", cmd_hold_add, "put recordings (by ID or case id) under a legal hold")
    ha.add_argument("--reference", required=True, help="the hold's reference, e.g. LIT-2026-01")
    ha.add_argument("--reason", required=True, help="why (written to the audit log)")
    target = ha.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--recording",
        action="append",
        default=[],
        metavar="ID",
        help="a recording to hold (repeatable)",
    )
    target.add_argument(
        "--case-id",
        action="append",
        default=[],
        metavar="C",
        help="hold every recording of case C, also those tagged later",
    )
    hr = hold.command("release", cmd_hold_release, "release a hold (audited)")
    hr.add_argument("reference", metavar="REF")
    hr.add_argument("--reason", help="why it is released (written to the audit log)")
    hl = hold.command("list", cmd_hold_list, "active holds (--all: released ones too)")
    hl.add_argument("--all", action="store_true")
