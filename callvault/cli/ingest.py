"""`callvault ingest FILE --call-id ID …` and `callvault ingest --resume`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from callvault.cli.common import actor, parse_time
from callvault.cli.output import emit, fields
from callvault.cli.progress import progress
from callvault.cli.registry import Context, Registrar, UsageError

if TYPE_CHECKING:
    from storage.ingest import IngestResult


def print_results(results: list[IngestResult]) -> int:
    """One line per result (stored on stdout, failed on stderr); 1 when any failed."""
    failed = 0
    for r in results:
        if r.state in ("stored", "already-stored"):
            print(f"{r.recording_id}  {r.state}  {r.message}".rstrip())
        else:
            failed += 1
            print(f"callvault: recording {r.recording_id} {r.state}: {r.message}", file=sys.stderr)
    return 1 if failed else 0


def cmd_ingest(args: argparse.Namespace, ctx: Context) -> int:
    if args.resume:
        if args.files:
            raise UsageError("give either FILE… or --resume, not both")
        return _resume(ctx)
    if not args.files:
        raise UsageError("nothing to ingest: give FILE… (with --call-id) or --resume")
    if not args.call_id:
        raise UsageError("--call-id is required when ingesting a file")
    if len(args.files) > 1:
        raise UsageError("one FILE per --call-id; run ingest once per call")
    from storage.ingest import IngestRequest, load_consent_file

    svc = ctx.services()
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
    result = svc.pipeline().ingest(args.files[0], request, actor=actor())
    if result.state != "stored":
        return print_results([result])
    from consent.recording_rights import shown

    view = shown(svc.recordings(), svc.catalogue, result.recording_id)
    emit(args, view, lambda: fields(view))
    return 0


def _resume(ctx: Context) -> int:
    from telephony.handoff import Handoff

    svc = ctx.services()
    calls = Handoff(svc.pipeline()).recover()  # calls a stopped SIP agent left behind
    failed_calls = [c for c in calls if c.kind.startswith("failed")]
    for c in calls:
        how = c.kind
        if c.kind == "recording":
            how += ", whole: it had ended" if c.complete else ", partial: it was still live"
        print(f"{c.flow_id}  recovered call ({how})", file=sys.stderr)
    with progress("finishing spooled jobs", total=len(svc.spool.pending()), unit="jobs") as done:
        pipeline = svc.pipeline(on_step=lambda step, job: done(1) if step == "committed" else None)
        resumed = pipeline.resume()
    results = [c.ingest for c in calls if c.ingest] + resumed
    print(f"resumed {len(results)} job(s) from {svc.spool.jobs_dir}", file=sys.stderr)
    return max(print_results(results), 1 if failed_calls else 0)


def register(cli: Registrar) -> None:
    ing = cli.command(
        "ingest", cmd_ingest, "store a recording (or finish interrupted jobs: --resume)"
    )
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
