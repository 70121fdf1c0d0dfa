"""`callvault identity rehash`: move stored caller hashes to the E.164 form (issue 7)."""

from __future__ import annotations

import argparse

from callvault.cli.common import actor
from callvault.cli.output import emit, note
from callvault.cli.progress import progress
from callvault.cli.registry import Context, Registrar


def cmd_identity_rehash(args: argparse.Namespace, ctx: Context) -> int:
    from storage.rehash import rehash_callers

    svc = ctx.services()
    with progress("re-hashing callers", unit="recordings") as advance:
        r = rehash_callers(svc.catalogue, svc.envelope, svc.hasher, actor=actor(), progress=advance)
    data = r.as_dict()

    def human() -> None:
        print(
            f"checked {r.checked} recording(s): {r.rehashed} re-hashed, {r.resealed} re-sealed "
            f"in E.164, {r.withheld} marked withheld, {r.unchanged} already current"
        )
        for item in r.not_rehashed:
            print(f"not re-hashed: recording {item['recording_id']}: {item['reason']}")
        for o in r.legacy_objections:
            print(
                f"do-not-record entry {o['caller_hash'][:16]}… (added {o['added_at'][:10]} by "
                f"{o['added_by']}: {o['reason']}) was hashed as typed and cannot be re-hashed"
            )
        if r.legacy_objections:
            note(
                "the do-not-record list keeps no numbers: re-add each of these callers with "
                "`callvault objections add NUMBER --reason …`, then remove the old entry with "
                "`callvault identity remove-legacy HASH --reason …`"
            )

    emit(args, data, human)
    return 1 if r.not_rehashed else 0


def cmd_identity_remove_legacy(args: argparse.Namespace, ctx: Context) -> int:
    from consent.do_not_record import DoNotRecordList

    svc = ctx.services()
    h = DoNotRecordList(svc.catalogue, svc.hasher).remove_legacy(
        args.caller_hash, actor=actor(), reason=args.reason
    )
    emit(args, {"caller_hash": h}, lambda: print(f"removed {h[:16]}…"))
    return 0


def register(cli: Registrar) -> None:
    group = cli.group("identity", "caller numbers: E.164 hashes")
    group.command(
        "rehash",
        cmd_identity_rehash,
        "re-hash every recording's caller from its sealed number (idempotent, audited); "
        "list do-not-record entries that cannot be re-hashed",
    )
    rm = group.command(
        "remove-legacy",
        cmd_identity_remove_legacy,
        "remove a do-not-record entry hashed before E.164, once re-added by number",
    )
    rm.add_argument("caller_hash", help="the entry's full hash (from `identity rehash --json`)")
    rm.add_argument("--reason", required=True)
