"""`callvault disclosures add|list|show`: the disclosure register (design.md section 8).

`add` writes the package for the recipient (a zip: the recordings as stored, manifest.json and
SHA256SUMS) and records who disclosed what to whom, when, why and on what basis.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from callvault.cli.common import actor
from callvault.cli.output import Column, emit, fields, table
from callvault.cli.registry import Context, Registrar, UsageError

KINDS = ("police", "ombudsman", "partner", "council-service", "court", "other")
COLUMNS = (
    Column("ID", lambda d: d["id"], 36),
    Column("DISCLOSED (UTC)", lambda d: d["disclosed_at"][:19], 19),
    Column("KIND", lambda d: d["kind"], 15),
    Column("RECIPIENT", lambda d: d["recipient"], 24),
    Column("REFERENCE", lambda d: d["reference"], 16),
    Column("RECORDINGS", lambda d: len(d["recording_ids"]), 4, ">"),
    Column("BY", lambda d: d["actor"]),
)


def _register(ctx: Context) -> Any:
    from consent.disclosures import Disclosures

    svc = ctx.services()
    return Disclosures(svc.catalogue, svc.recordings())


def cmd_add(args: argparse.Namespace, ctx: Context) -> int:
    from consent.disclosures import DisclosureRequest

    if not args.recording and not args.case_id:
        raise UsageError("name what is disclosed: --recording ID or --case-id C (repeatable)")
    req = DisclosureRequest(
        recipient=args.recipient,
        kind=args.kind,
        basis=args.basis,
        reference=args.reference,
        reason=args.reason,
        recording_ids=args.recording,
        case_ids=args.case_id,
    )
    view = _register(ctx).add(req, args.out, actor=actor(), force=args.force)
    emit(
        args,
        view,
        lambda: print(
            f"disclosure {view['id']}: {len(view['recording_ids'])} recording(s) to "
            f"{view['recipient']} ({view['kind']}, {view['reference']}) written to {view['out']}"
            f"\nmanifest sha256 {view['manifest_sha256']}\npackage  sha256 "
            f"{view['package_sha256']}"
        ),
    )
    return 0


def cmd_list(args: argparse.Namespace, ctx: Context) -> int:
    rows = _register(ctx).list(recording_id=args.recording, recipient=args.recipient)
    emit(args, rows, lambda: table(rows, COLUMNS, header=True, count="disclosure(s)"))
    return 0


def cmd_show(args: argparse.Namespace, ctx: Context) -> int:
    view = _register(ctx).show(args.id)
    emit(args, view, lambda: fields(view))
    return 0


def register(cli: Registrar) -> None:
    grp = cli.group("disclosures", "the disclosure register: recordings given to others")
    add = grp.command("add", cmd_add, "disclose recordings: write the package and record it")
    add.add_argument("--recipient", required=True, help='e.g. "Essex Police"')
    add.add_argument("--kind", required=True, choices=KINDS)
    add.add_argument("--basis", required=True, help="the lawful basis or request relied on")
    add.add_argument("--reference", required=True, help="the recipient's or our reference")
    add.add_argument("--reason", required=True, help="why (written to the audit log)")
    add.add_argument("--recording", action="append", default=[], metavar="ID", help="repeatable")
    add.add_argument(
        "--case-id", action="append", default=[], metavar="C", help="every stored recording"
    )
    add.add_argument("--out", type=Path, required=True, metavar="FILE.zip")
    add.add_argument("--force", action="store_true", help="replace an existing file at --out")
    ls = grp.command("list", cmd_list, "the register, newest first")
    ls.add_argument("--recording", metavar="ID", help="disclosures that included it")
    ls.add_argument("--recipient", metavar="ORG", help="one recipient (case-insensitive)")
    grp.command("show", cmd_show, "one disclosure with its files").add_argument("id")
