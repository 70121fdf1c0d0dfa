"""`callvault audit verify [--anchors]` and `callvault audit anchor`: the tamper-evident log."""

from __future__ import annotations

import argparse

from callvault.cli.output import emit
from callvault.cli.registry import Context, Registrar, fail


def cmd_audit_verify(args: argparse.Namespace, ctx: Context) -> int:
    from storage.anchors import read_anchors
    from storage.audit_check import verify_audit

    svc = ctx.services()
    anchors = read_anchors(svc.store, svc.catalogue.audit_key) if args.anchors else []
    with svc.catalogue.session() as s:
        verdict = verify_audit(s, anchors)
    res, problems = verdict.chain, verdict.problems
    data = {
        "ok": verdict.ok,
        "chain_ok": res.ok,
        "count": res.count,
        "head_hash": res.head_hash,
        "first_bad_seq": res.first_bad_seq,
        "problem": res.problem,
        "problems": problems,
        "anchors_checked": len(anchors),
    }
    if verdict.ok:
        checked = f", {len(anchors)} anchor(s) agree" if args.anchors else ""
        emit(
            args,
            data,
            lambda: print(f"audit log intact: {res.count} events, head {res.head_hash}{checked}"),
        )
        return 0
    emit(args, data, lambda: None)
    return fail(verdict.summary())


def cmd_audit_anchor(args: argparse.Namespace, ctx: Context) -> int:
    from storage.anchors import write_anchor

    svc = ctx.services()
    a = write_anchor(svc.catalogue, svc.store, retain_days=args.retain_days)
    data = {"seq": a.seq, "head_hash": a.head_hash, "at": a.at.isoformat(), "key": a.key}
    emit(args, data, lambda: print(f"anchored row {a.seq} ({a.head_hash}) as {a.key}"))
    return 0


def register(cli: Registrar) -> None:
    aud = cli.group("audit", "the tamper-evident audit log")
    ver = aud.command(
        "verify",
        cmd_audit_verify,
        "check the keyed hash chain against the catalogue; exit 1 naming what is wrong",
    )
    ver.add_argument(
        "--anchors", action="store_true", help="also compare with the anchors in the store"
    )
    anc = aud.command(
        "anchor", cmd_audit_anchor, "copy the chain's head to the object store (Object Lock)"
    )
    anc.add_argument("--retain-days", type=int, default=400, help="object lock retention")
