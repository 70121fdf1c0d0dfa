"""`callvault requests …`: data-subject requests, their clock, packs and decisions (design §8).

Approving an erasure needs a second, authenticated person: the portal, or
`POST /api/v1/requests/{id}/approve` with another DPO's credentials. The CLI proposes.
"""

from __future__ import annotations

import argparse
import re
from datetime import date
from pathlib import Path
from typing import Any

from callvault.cli.common import actor, parse_time
from callvault.cli.output import Column, emit, fields, note, one_line, table
from callvault.cli.progress import progress
from callvault.cli.registry import Context, Registrar

KINDS = ("access", "erasure", "restriction", "rectification", "portability", "objection")
STATES = ("received", "verified", "in-progress", "completed", "refused", "withdrawn")

COLUMNS = (
    Column("ID", lambda r: r["id"], 11),
    Column("KIND", lambda r: r["kind"], 13),
    Column("STATE", lambda r: r["state"], 11),
    Column("RECEIVED", lambda r: r["received"], 10),
    Column("DUE", lambda r: r["due"], 10),
    Column("", lambda r: _left(r)),
)


def _left(r: dict[str, Any]) -> str:
    if r["days_left"] is None:
        return str(r["state"])
    if r["paused_since"]:
        return f"paused since {r['paused_since']}"
    n = r["days_left"]
    return f"OVERDUE by {-n} day(s)" if n < 0 else f"{n} day(s) left"


def _days(value: str) -> int:
    m = re.fullmatch(r"\s*(\d{1,4})\s*([dw]?)\s*", value)
    if not m:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of days (e.g. 7d or 2w)")
    return int(m.group(1)) * (7 if m.group(2) == "w" else 1)


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _say(args: argparse.Namespace, view: dict[str, Any], what: str) -> int:
    emit(args, view, lambda: print(f"request {view['id']} {what}; due {view['due']}"))
    return 0


def cmd_open(args: argparse.Namespace, ctx: Context) -> int:
    from consent.requests import Identifiers

    ids = Identifiers(args.caller, args.case_id, args.since, args.until)
    view = (
        ctx.services()
        .subject_requests()
        .open(args.kind, ids, actor=actor(), received=args.received)
    )
    return _say(args, view, f"opened ({view['kind']}, received {view['received']})")


def cmd_list(args: argparse.Namespace, ctx: Context) -> int:
    rows = ctx.services().subject_requests().list(state=args.state, due_within_days=args.due_within)
    emit(args, rows, lambda: table(rows, COLUMNS, header=True, count="request(s)"))
    return 0


def cmd_show(args: argparse.Namespace, ctx: Context) -> int:
    from consent.requests_show import describe
    from retention_jobs.holds import holds_for

    view = describe(ctx.services().subject_requests(), args.request, holds_for)

    def human() -> None:
        fields(
            {k: v for k, v in view.items() if k not in ("recordings", "consent_only", "decisions")}
        )
        for r in view["recordings"]:
            print(
                f"  recording {r['id']}  {r['started_at'][:16]}  {r['status']}  "
                f"{one_line(r['service'] or '-')}  keep until {r['expires_at'] or '-'}"
            )
        for c in view["consent_only"]:
            print(f"  consent-only call {c['call_id']}  {c['received_at'][:16]}")
        for d in view["decisions"]:
            print(
                f"  decision {d['recording_id']}: {d['decision']} ({d['state']}) by "
                f"{d['proposed_by']}"
                + (f", approved by {d['approved_by']}" if d["approved_by"] else "")
            )

    emit(args, view, human)
    return 0


def cmd_verify(args: argparse.Namespace, ctx: Context) -> int:
    view = ctx.services().subject_requests().verify(args.request, how=args.how, actor=actor())
    return _say(args, view, "verified")


def cmd_extend(args: argparse.Namespace, ctx: Context) -> int:
    svc = ctx.services().subject_requests()
    view = svc.extend(args.request, months=args.months, reason=args.reason, actor=actor())
    return _say(args, view, f"extended by {args.months} month(s)")


def cmd_pause(args: argparse.Namespace, ctx: Context) -> int:
    view = ctx.services().subject_requests().pause(args.request, reason=args.reason, actor=actor())
    return _say(args, view, "paused (the clock stopped)")


def cmd_resume(args: argparse.Namespace, ctx: Context) -> int:
    view = ctx.services().subject_requests().resume(args.request, actor=actor())
    return _say(args, view, f"resumed after {view['days_paused']} day(s) paused in all")


def cmd_complete(args: argparse.Namespace, ctx: Context) -> int:
    return _say(
        args, ctx.services().subject_requests().complete(args.request, actor=actor()), "completed"
    )


def cmd_refuse(args: argparse.Namespace, ctx: Context) -> int:
    svc = ctx.services().subject_requests()
    return _say(args, svc.refuse(args.request, reason=args.reason, actor=actor()), "refused")


def cmd_withdraw(args: argparse.Namespace, ctx: Context) -> int:
    svc = ctx.services().subject_requests()
    return _say(args, svc.withdraw(args.request, reason=args.reason, actor=actor()), "withdrawn")


def cmd_pack(args: argparse.Namespace, ctx: Context) -> int:
    if args.reason and not args.both_channels:
        note(
            "callvault: warning: --reason is for --both-channels; "
            "the pack holds the caller's channel only"
        )
    packs = ctx.services().packs()
    plan = packs.plan(
        args.request, actor=actor(), both_channels=args.both_channels, reason=args.reason
    )
    with progress(f"pack {args.request}", total=len(plan.recordings), unit="recording(s)") as adv:
        view = packs.write(plan, Path(args.out), adv, force=args.force)
    emit(
        args,
        view,
        lambda: print(
            f"pack of request {view['request_id']} written to {args.out}: {view['recordings']} "
            f"recording(s) ({view['with_audio']} with audio), {view['consent_only']} consent-only "
            f"call(s), {view['disclosures']} disclosure(s); sha256 {view['sha256']}"
        ),
    )
    return 0


def cmd_erase(args: argparse.Namespace, ctx: Context) -> int:
    out = (
        ctx.services()
        .erasure()
        .propose(args.request, reason=args.reason, actor=actor(), recording_ids=args.recording)
    )
    return _decided(args, out, "proposed for erasure; another DPO approves it in the portal")


def cmd_keep(args: argparse.Namespace, ctx: Context) -> int:
    out = (
        ctx.services()
        .erasure()
        .keep(args.request, reason=args.reason, actor=actor(), recording_ids=args.recording)
    )
    return _decided(args, out, "kept")


def cmd_restrict(args: argparse.Namespace, ctx: Context) -> int:
    from consent.requests_restriction import restrict_for_request

    svc = ctx.services().subject_requests()
    out = restrict_for_request(
        svc, args.request, reason=args.reason, actor=actor(), recording_ids=args.recording
    )
    emit(args, out, lambda: print(
        f"request {out['request_id']}: {len(out['restricted'])} recording(s) restricted, "
        f"{len(out['already_restricted'])} already restricted"
    ))  # fmt: skip
    return 0


def _decided(args: argparse.Namespace, out: dict[str, Any], what: str) -> int:
    def human() -> None:
        for d in out["decisions"]:
            extra = f" ({d['detail']})" if d["detail"] else ""
            print(f"recording {d['recording_id']}: {d['decision']}, {d['state']}{extra}")
        note(f"request {out['request_id']}: {what}")

    emit(args, out, human)
    return 0


def cmd_object(args: argparse.Namespace, ctx: Context) -> int:
    from consent.requests_objection import act_on_objection
    from retention_jobs.holds import holds_for

    svc = ctx.services().subject_requests()
    out = act_on_objection(svc, args.request, actor=actor(), holds_of=holds_for)

    def human() -> None:
        print(
            f"{out['do_not_record_added']} number(s) added to the do-not-record list "
            f"({out['already_on_the_list']} already on it)"
        )
        for r in out["recordings"]:
            d = r["decision"]
            print(
                f"  recording {r['id']}  {r['started_at'][:16]}  {r['status']}  "
                + (f"{d['decision']} ({d['state']})" if d else "to decide: requests keep|erase")
            )

    emit(args, out, human)
    return 0


def register(cli: Registrar) -> None:
    g = cli.group("requests", "data-subject requests (access, erasure, …) and their clock")
    o = g.command("open", cmd_open, "record a request; due one calendar month after receipt")
    o.add_argument("--kind", required=True, choices=KINDS)
    o.add_argument(
        "--caller",
        action="append",
        default=[],
        metavar="NUM",
        help="a number the caller gave, any spelling (repeatable)",
    )
    o.add_argument(
        "--case-id", action="append", default=[], metavar="C", help="a case ID (repeatable)"
    )
    o.add_argument("--since", type=parse_time, help="only calls from this date/time")
    o.add_argument("--until", type=parse_time, help="only calls before this date/time")
    o.add_argument("--received", type=_date, help="the date it was received (default today)")
    ls = g.command("list", cmd_list, "requests, soonest due first")
    ls.add_argument(
        "--due-within", type=_days, metavar="7d", help="open requests due within this (or overdue)"
    )
    ls.add_argument("--state", choices=STATES)
    for name, handler, help_ in (
        ("show", cmd_show, "a request, the recordings it found and the decisions"),
        ("resume", cmd_resume, "restart the clock after a pause"),
        ("complete", cmd_complete, "the reply was sent"),
        (
            "object",
            cmd_object,
            "objection: put the numbers on the do-not-record list; list the recordings",
        ),
    ):
        g.command(name, handler, help_).add_argument("request", metavar="REQ")
    v = g.command("verify", cmd_verify, "the requester's identity was checked")
    v.add_argument("request", metavar="REQ")
    v.add_argument("--how", required=True, help="how (e.g. 'council tax account and address')")
    e = g.command("extend", cmd_extend, "extend once, by 1 or 2 further months, with a reason")
    e.add_argument("request", metavar="REQ")
    e.add_argument("--months", type=int, required=True, choices=(1, 2))
    e.add_argument("--reason", required=True)
    for name, handler, help_, required in (
        ("pause", cmd_pause, "stop the clock (waiting for identity or clarification)", True),
        ("refuse", cmd_refuse, "refuse the request, with the reason", True),
        ("withdraw", cmd_withdraw, "the requester withdrew it", False),
    ):
        p = g.command(name, handler, help_)
        p.add_argument("request", metavar="REQ")
        p.add_argument("--reason", required=required)
    pk = g.command("pack", cmd_pack, "the reply to an access or portability request (a zip)")
    pk.add_argument("request", metavar="REQ")
    pk.add_argument("--out", required=True, metavar="FILE.zip")
    pk.add_argument(
        "--both-channels",
        action="store_true",
        help="include the staff member's voice (needs --reason)",
    )
    pk.add_argument("--reason", help="why both channels are included (audited)")
    pk.add_argument("--force", action="store_true", help="replace FILE.zip if it exists")
    for name, handler, help_ in (
        ("erase", cmd_erase, "propose erasing the request's recordings (a second DPO approves)"),
        ("keep", cmd_keep, "objection: keep recordings, with the reason"),
        ("restrict", cmd_restrict, "restriction: restrict the recordings found, with the reason"),
    ):
        p = g.command(name, handler, help_)
        p.add_argument("request", metavar="REQ")
        p.add_argument(
            "--recording",
            action="append",
            default=[],
            metavar="ID",
            help="only these (repeatable; default all found)",
        )
        p.add_argument("--reason", required=True)
