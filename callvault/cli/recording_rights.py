"""`callvault recordings restrict|unrestrict|rectify`: a data subject's rights of restriction
and rectification (issue 11), as actions of the recordings group (consent/ does the work)."""

from __future__ import annotations

import argparse

from callvault.cli.common import actor
from callvault.cli.output import emit, fields
from callvault.cli.registry import Context, Registrar


def cmd_restrict(args: argparse.Namespace, ctx: Context) -> int:
    from consent.restriction import restrict

    with ctx.services().catalogue.session() as s:
        done = restrict(s, args.ids, actor=actor(), reason=args.reason, request_id=args.request)
    view = {"restricted": done, "already_restricted": [i for i in args.ids if i not in done]}

    def human() -> None:
        for rid in done:
            print(f"restricted {rid}: hidden from supervisors and QA, kept by the purge")
        for rid in view["already_restricted"]:
            print(f"{rid} was already restricted")

    emit(args, view, human)
    return 0


def cmd_unrestrict(args: argparse.Namespace, ctx: Context) -> int:
    from consent.restriction import lift

    with ctx.services().catalogue.session() as s:
        done = lift(s, args.ids, actor=actor(), reason=args.reason)
    emit(
        args, {"lifted": done}, lambda: print(*(f"restriction lifted: {r}" for r in done), sep="\n")
    )
    return 0


def cmd_rectify(args: argparse.Namespace, ctx: Context) -> int:
    from consent.recording_rights import shown
    from consent.rectification import Change, rectify

    changes = [Change("service", args.service)] if args.service is not None else []
    changes += [Change("add-case-id", c) for c in args.add_case_id]
    changes += [Change("remove-case-id", c) for c in args.remove_case_id]
    changes += [Change("statement", args.statement)] if args.statement is not None else []
    svc = ctx.services()
    with svc.catalogue.session() as s:
        rectify(s, args.id, changes, actor=actor(), reason=args.reason, request_id=args.request)
    view = shown(svc.recordings(), svc.catalogue, args.id)
    emit(args, view, lambda: fields(view))
    return 0


def add_commands(rec: Registrar) -> None:
    rs = rec.command("restrict", cmd_restrict, "restrict recordings (a data-subject right)")
    rs.add_argument("ids", nargs="+", metavar="ID")
    rs.add_argument("--reason", required=True, help="why (written to the audit log)")
    rs.add_argument("--request", metavar="REQ", help="the subject request it answers")
    un = rec.command("unrestrict", cmd_unrestrict, "lift restrictions (audited)")
    un.add_argument("ids", nargs="+", metavar="ID")
    un.add_argument("--reason", required=True, help="why (written to the audit log)")
    rf = rec.command("rectify", cmd_rectify, "correct a recording's metadata (append-only history)")
    rf.add_argument("id", metavar="ID")
    rf.add_argument("--service", help="the correct service")
    rf.add_argument("--add-case-id", action="append", default=[], metavar="C")
    rf.add_argument("--remove-case-id", action="append", default=[], metavar="C")
    rf.add_argument("--statement", help="a correction statement attached to the recording")
    rf.add_argument("--reason", required=True, help="why (written to the audit log)")
    rf.add_argument("--request", metavar="REQ", help="the subject request it answers")
