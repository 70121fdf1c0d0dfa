"""`callvault keys rotate|list`: key-encryption keys."""

from __future__ import annotations

import argparse
import sys

from callvault.cli.common import actor
from callvault.cli.output import Column, emit, table
from callvault.cli.progress import progress
from callvault.cli.registry import Context, Registrar

COLUMNS = (
    Column("ACTIVE", lambda d: "*" if d["active"] else " ", 1, after=" "),
    Column("KEK", lambda d: d["kek_id"], 48, after=" "),
    Column("DATA KEYS", lambda d: d["data_keys"], 8, ">", after=" "),
    Column(
        "",
        lambda d: "data keys" + ("" if d["can_unwrap_here"] else "  (cannot unwrap on this node)"),
    ),
)


def cmd_keys_rotate(args: argparse.Namespace, ctx: Context) -> int:
    from storage.rotation import keys_to_rewrap, rewrap_all

    svc = ctx.services()
    new = svc.envelope.active.rotate(args.kms_key_id)
    print(f"new key-encryption key {new}", file=sys.stderr)
    total = keys_to_rewrap(svc.catalogue, new)
    with progress("re-wrapping data keys", total=total, unit="keys") as advance:
        r = rewrap_all(svc.catalogue, svc.envelope, actor=actor(), progress=advance)
    data = {"kek_id": r.new_kek_id, "rewrapped": r.rewrapped, "from": r.from_keks}
    sources = "".join(f"\n  from {k}: {n}" for k, n in r.from_keks.items())
    emit(
        args,
        data,
        lambda: print(f"re-wrapped {r.rewrapped} data key(s) under {r.new_kek_id}" + sources),
    )
    return 0


def cmd_keys_list(args: argparse.Namespace, ctx: Context) -> int:
    from storage.rotation import keys_in_use

    svc = ctx.services()
    used = keys_in_use(svc.catalogue)
    active = svc.envelope.active.current_kek_id
    keks = sorted(set(svc.envelope.active.list_keks()) | set(used))
    data = [
        {
            "kek_id": k,
            "active": k == active,
            "data_keys": used.get(k, 0),
            "can_unwrap_here": svc.envelope.can_open(k),
        }
        for k in keks
    ]
    emit(args, data, lambda: table(data, COLUMNS))
    return 0


def register(cli: Registrar) -> None:
    keys = cli.group("keys", "key-encryption keys")
    rot = keys.command(
        "rotate", cmd_keys_rotate, "new KEK, re-wrap every data key (audio untouched)"
    )
    rot.add_argument("--kms-key-id", help="aws-kms mode: the new KMS key to wrap under")
    keys.command("list", cmd_keys_list, "KEKs and how many data keys each wraps")
