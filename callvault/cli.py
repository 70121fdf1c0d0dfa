"""`callvault …` — the command line (design.md section 5). Exit 0 ok, 1 failed, 2 usage."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from callvault import cli_retention, cli_telephony
from callvault.cli_common import actor, emit, parse_time
from callvault.settings import ConfigError, load_settings
from callvault.wiring import Services
from storage.audit import verify_chain
from storage.errors import CallvaultError, StorageError
from storage.ingest import IngestRequest, IngestResult, load_consent_file
from storage.retrieval import ListFilter
from storage.rotation import keys_in_use, rewrap_all
from telephony.handoff import Handoff

log = logging.getLogger("callvault")
Handler = Callable[[argparse.Namespace, Services], int]


# -- commands -------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace, svc: Services) -> int:
    for line in svc.init():
        print(line)
    return 0


def _print_results(results: list[IngestResult]) -> int:
    failed = 0
    for r in results:
        if r.state in ("stored", "already-stored"):
            print(f"{r.recording_id}  {r.state}  {r.message}".rstrip())
        else:
            failed += 1
            print(f"callvault: recording {r.recording_id} {r.state}: {r.message}", file=sys.stderr)
    return 1 if failed else 0


def cmd_ingest(args: argparse.Namespace, svc: Services) -> int:
    svc.catalogue.require_current()
    pipeline = svc.pipeline()
    if args.resume:
        if args.files:
            raise StorageError("give either FILE… or --resume, not both")
        calls = Handoff(pipeline).recover()  # calls a stopped SIP agent left behind
        failed_calls = [c for c in calls if c.kind.startswith("failed")]
        for c in calls:
            print(f"{c.flow_id}  recovered call ({c.kind}, incomplete)", file=sys.stderr)
        results = [c.ingest for c in calls if c.ingest] + pipeline.resume()
        print(f"resumed {len(results)} job(s) from {svc.spool.jobs_dir}", file=sys.stderr)
        return max(_print_results(results), 1 if failed_calls else 0)
    if not args.files:
        raise StorageError("nothing to ingest: give FILE… (with --call-id) or --resume")
    if not args.call_id:
        raise StorageError("--call-id is required when ingesting a file")
    if len(args.files) > 1:
        raise StorageError("one FILE per --call-id; run ingest once per call")
    consent = load_consent_file(args.consent) if args.consent else None
    request = IngestRequest(
        call_id=args.call_id,
        caller=args.caller,
        service=args.service,
        agent=args.agent,
        case_ids=tuple(args.case_id),
        consent=consent,
        started_at=args.started_at,
    )
    result = pipeline.ingest(args.files[0], request, actor=actor())
    if result.state != "stored":
        return _print_results([result])
    view = svc.recordings().show(result.recording_id)
    emit(args, view, lambda: _print_recording(view))
    return 0


def _print_recording(v: dict[str, Any]) -> None:
    width = max(len(k) for k in v)
    for k, value in v.items():
        if k == "consent" and value is not None:
            value = json.dumps(value, sort_keys=True)
        elif isinstance(value, list):
            value = ", ".join(value) or "-"
        print(f"{k:<{width}}  {'-' if value is None else value}")


def cmd_list(args: argparse.Namespace, svc: Services) -> int:
    svc.catalogue.require_current()
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

    def human() -> None:
        print(
            f"{'ID':<36}  {'STARTED (UTC)':<19}  {'DURATION':>8}  {'STATE':<9}  "
            f"{'SERVICE':<14}  CASES"
        )
        for r in rows:
            print(
                f"{r['id']:<36}  {r['started_at'][:19]:<19}  {r['duration_s']:>7.1f}s  "
                f"{r['state']:<9}  {(r['service'] or '-'):<14}  "
                f"{', '.join(r['case_ids']) or '-'}"
            )
        print(f"{len(rows)} recording(s)", file=sys.stderr)

    emit(args, rows, human)
    return 0


def cmd_show(args: argparse.Namespace, svc: Services) -> int:
    svc.catalogue.require_current()
    view = svc.recordings().show(args.id)
    emit(args, view, lambda: _print_recording(view))
    return 0


def cmd_tag(args: argparse.Namespace, svc: Services) -> int:
    svc.catalogue.require_current()
    view = svc.recordings().tag(args.id, args.case_id, actor=actor())
    emit(args, view, lambda: print(f"{view['id']}  case ids: {', '.join(view['case_ids'])}"))
    return 0


def cmd_export(args: argparse.Namespace, svc: Services) -> int:
    svc.catalogue.require_current()
    r = svc.recordings().export(
        args.id, args.out, reason=args.reason, actor=actor(), fmt=args.format
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


def cmd_audit_verify(args: argparse.Namespace, svc: Services) -> int:
    svc.catalogue.require_current()
    with svc.catalogue.session() as s:
        res = verify_chain(s)
    data = {
        "ok": res.ok,
        "count": res.count,
        "head_hash": res.head_hash,
        "first_bad_seq": res.first_bad_seq,
        "problem": res.problem,
    }
    if res.ok:
        emit(
            args, data, lambda: print(f"audit log intact: {res.count} events, head {res.head_hash}")
        )
        return 0
    emit(args, data, lambda: None)
    print(f"callvault: audit log BROKEN at row {res.first_bad_seq}: {res.problem}", file=sys.stderr)
    return 1


def cmd_keys_rotate(args: argparse.Namespace, svc: Services) -> int:
    svc.catalogue.require_current()
    new = svc.envelope.active.rotate(args.kms_key_id)
    print(f"new key-encryption key {new}", file=sys.stderr)
    r = rewrap_all(svc.catalogue, svc.envelope, actor=actor())
    data = {"kek_id": r.new_kek_id, "rewrapped": r.rewrapped, "from": r.from_keks}
    sources = "".join(f"\n  from {k}: {n}" for k, n in r.from_keks.items())
    emit(
        args,
        data,
        lambda: print(f"re-wrapped {r.rewrapped} data key(s) under {r.new_kek_id}" + sources),
    )
    return 0


def cmd_keys_list(args: argparse.Namespace, svc: Services) -> int:
    svc.catalogue.require_current()
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

    def human() -> None:
        for d in data:
            print(
                f"{'*' if d['active'] else ' '} {d['kek_id']:<48} {d['data_keys']:>8} data keys"
                f"{'' if d['can_unwrap_here'] else '  (cannot unwrap on this node)'}"
            )

    emit(args, data, human)
    return 0


def cmd_demo(args: argparse.Namespace, svc: Services) -> int:
    from callvault.demo import run_demo

    return run_demo(svc, actor=actor(), workdir=args.workdir)


# -- parser ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="callvault", description=__doc__)
    p.add_argument("--config", type=Path, help="configuration file (default ./callvault.toml)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, handler: Handler, help_: str, parent: Any = sub, json_flag: bool = True
    ) -> argparse.ArgumentParser:
        sp: argparse.ArgumentParser = parent.add_parser(name, help=help_, description=help_)
        sp.set_defaults(handler=handler)
        if json_flag:
            sp.add_argument("--json", action="store_true", help="one JSON document on stdout")
        return sp

    add(
        "init",
        cmd_init,
        "create var/ (catalogue, store, dev keys) or migrate; idempotent",
        json_flag=False,
    )

    ing = add("ingest", cmd_ingest, "store a recording (or finish interrupted jobs: --resume)")
    ing.add_argument("files", nargs="*", type=Path, metavar="FILE")
    ing.add_argument("--resume", action="store_true", help="finish every job left in the spool")
    ing.add_argument("--call-id")
    ing.add_argument("--caller", help="caller number (stored only as keyed hash + encrypted)")
    ing.add_argument("--service")
    ing.add_argument("--agent", help="staff member or extension that took the call")
    ing.add_argument("--case-id", action="append", default=[])
    ing.add_argument("--consent", type=Path, metavar="FILE.json")
    ing.add_argument(
        "--started-at", type=parse_time, help="call start (default: file mtime - length)"
    )

    rec = sub.add_parser("recordings", help="list, show, tag, export recordings")
    rsub = rec.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = add("list", cmd_list, "list recordings, newest first", rsub)
    ls.add_argument("--case-id")
    ls.add_argument("--caller")
    ls.add_argument("--service")
    ls.add_argument("--since", type=parse_time)
    ls.add_argument("--until", type=parse_time)
    ls.add_argument("--limit", type=int, default=1000)
    add("show", cmd_show, "one recording with its consent record", rsub).add_argument("id")
    tg = add("tag", cmd_tag, "attach a case id (audited)", rsub)
    tg.add_argument("id")
    tg.add_argument("--case-id", required=True)
    ex = add("export", cmd_export, "decrypt a recording to a file (audited)", rsub)
    ex.add_argument("id")
    ex.add_argument("--out", type=Path, required=True)
    ex.add_argument("--reason", required=True)
    ex.add_argument("--format", choices=("wav", "opus"))

    aud = sub.add_parser("audit", help="the tamper-evident audit log")
    asub = aud.add_subparsers(dest="action", required=True, metavar="ACTION")
    add("verify", cmd_audit_verify, "check the hash chain; exit 1 naming the first bad row", asub)

    keys = sub.add_parser("keys", help="key-encryption keys")
    ksub = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    rot = add("rotate", cmd_keys_rotate, "new KEK, re-wrap every data key (audio untouched)", ksub)
    rot.add_argument("--kms-key-id", help="aws-kms mode: the new KMS key to wrap under")
    add("list", cmd_keys_list, "KEKs and how many data keys each wraps", ksub)

    demo = add(
        "demo", cmd_demo, "a generated call ingested and exported, step by step", json_flag=False
    )
    demo.add_argument("--workdir", type=Path, help="where to put the generated audio")
    cli_retention.register(sub, add)  # retention, hold, serve
    cli_telephony.register(sub, add)  # agent, calls, objections
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("botocore", "boto3", "s3transfer", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = load_settings(args.config)
        svc = Services.build(settings)
    except ConfigError as exc:
        print(f"callvault: configuration error: {exc}", file=sys.stderr)
        return 2
    except CallvaultError as exc:
        print(f"callvault: {exc}", file=sys.stderr)
        return 1
    try:
        handler: Handler = args.handler
        return handler(args, svc)
    except CallvaultError as exc:
        print(f"callvault: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "callvault: interrupted (a job already in the spool is finished by "
            "`callvault ingest --resume`)",
            file=sys.stderr,
        )
        return 130
    finally:
        svc.close()


if __name__ == "__main__":
    sys.exit(main())
