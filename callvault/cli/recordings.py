"""`callvault recordings list|show|tag|export` (restrict|unrestrict|rectify: recording_rights)."""

from __future__ import annotations

import argparse
from pathlib import Path

from callvault.cli import recording_rights
from callvault.cli.common import actor, parse_time
from callvault.cli.output import Column, emit, fields, table
from callvault.cli.registry import Context, Registrar

COLUMNS = (
    Column("ID", lambda r: r["id"], 36),
    Column("STARTED (UTC)", lambda r: r["started_at"][:19], 19),
    Column("DURATION", lambda r: f"{r['duration_s']:.1f}s", 8, ">"),
    Column("STATE", lambda r: "restricted" if r.get("restricted") else r["state"], 10),
    Column("SERVICE", lambda r: r["service"] or "-", 14),
    Column("CASES", lambda r: ", ".join(r["case_ids"]) or "-"),
)


def cmd_list(args: argparse.Namespace, ctx: Context) -> int:
    from consent.recording_rights import mark_restricted
    from storage.retrieval import ListFilter

    svc = ctx.services()
    rows = svc.recordings().list(
        ListFilter(
            case_id=args.case_id,
            caller=args.caller,
            service=args.service,
            since=args.since,
            until=args.until,
            limit=args.limit,
        )
    )
    with svc.catalogue.session() as s:
        mark_restricted(s, rows)
    emit(args, rows, lambda: table(rows, COLUMNS, header=True, count="recording(s)"))
    return 0


def cmd_show(args: argparse.Namespace, ctx: Context) -> int:
    from consent.recording_rights import shown

    svc = ctx.services()
    view = shown(svc.recordings(), svc.catalogue, args.id)
    emit(args, view, lambda: fields(view))
    return 0


def cmd_tag(args: argparse.Namespace, ctx: Context) -> int:
    view = ctx.services().recordings().tag(args.id, args.case_id, actor=actor())
    emit(args, view, lambda: print(f"{view['id']}  case ids: {', '.join(view['case_ids'])}"))
    return 0


def cmd_export(args: argparse.Namespace, ctx: Context) -> int:
    r = (
        ctx.services()
        .recordings()
        .export(
            args.id,
            args.out,
            reason=args.reason,
            actor=actor(),
            fmt=args.format,
            force=args.force,
        )
    )
    data = {
        "id": r.recording_id,
        "out": str(r.path),
        "format": r.format,
        "bytes": r.bytes_written,
        "sha256": r.sha256,
    }
    emit(
        args,
        data,
        lambda: print(
            f"exported {r.recording_id} to {r.path} "
            f"({r.format}, {r.bytes_written} bytes, sha256 {r.sha256})"
        ),
    )
    return 0


def register(cli: Registrar) -> None:
    rec = cli.group("recordings", "list, show, tag, export, restrict, rectify recordings")
    ls = rec.command("list", cmd_list, "list recordings, newest first")
    ls.add_argument("--case-id")
    ls.add_argument("--caller")
    ls.add_argument("--service")
    ls.add_argument("--since", type=parse_time)
    ls.add_argument("--until", type=parse_time)
    ls.add_argument("--limit", type=int, default=1000)
    rec.command("show", cmd_show, "one recording with its consent record").add_argument("id")
    tg = rec.command("tag", cmd_tag, "attach a case id (audited)")
    tg.add_argument("id")
    tg.add_argument("--case-id", required=True)
    ex = rec.command("export", cmd_export, "decrypt a recording to a file (audited)")
    ex.add_argument("id")
    ex.add_argument("--out", type=Path, required=True)
    ex.add_argument("--reason", required=True)
    ex.add_argument(
        "--format", choices=("wav", "opus"), help="default: from the --out name (.wav, .ogg/.opus)"
    )
    ex.add_argument(
        "--force", action="store_true", help="replace an existing regular file at --out"
    )
    recording_rights.add_commands(rec)
