"""`callvault retention policy|apply|run|schedule|records`."""

from __future__ import annotations

import argparse
import logging

from callvault.cli.common import actor, parse_time
from callvault.cli.output import emit, note
from callvault.cli.progress import progress
from callvault.cli.registry import Context, Registrar

log = logging.getLogger("callvault.retention")


def cmd_policy(args: argparse.Namespace, ctx: Context) -> int:
    from callvault.settings import retention_policy

    settings = ctx.settings
    doc = retention_policy(settings.retention).describe()
    r = settings.retention
    doc["purge"] = {"batch_size": r.batch_size, "claim_timeout_s": r.claim_timeout_s}

    def human() -> None:
        print(f"retention policy {doc['policy_id']} (fingerprint {doc['fingerprint']})")
        print("classes:")
        for name, c in doc["classes"].items():
            notes = [
                n
                for n, k in (
                    ("default", "default_class"),
                    ("consent-only records", "consent_only_class"),
                )
                if doc[k] == name
            ]
            print(f"  {name:<20} {c['period']:<12} {', '.join(notes)}".rstrip())
        print(f"rules ({doc['selection']}):")
        for i, rule in enumerate(doc["rules"], start=1):
            match = " and ".join(f"{k} {rule[k]}" for k in ("service", "case_ref") if rule[k])
            print(f"  {i}. {match} -> {rule['class']}")
        if not doc["rules"]:
            print("  (none: every recording takes the default class)")
        print(f"arithmetic: {doc['arithmetic']}")

    emit(args, doc, human)
    return 0


def cmd_apply(args: argparse.Namespace, ctx: Context) -> int:
    from retention_jobs.assign import apply_policy
    from storage.audit import AuditLog
    from storage.clock import utcnow

    svc = ctx.services()
    with progress("applying the retention policy", unit="recordings") as advance:
        report = apply_policy(
            svc.catalogue,
            svc.retention_policy(),
            now=args.now or utcnow(),
            actor=actor(),
            audit=AuditLog(),
            dry_run=args.dry_run,
            progress=advance,
        )
    d = report.as_dict()

    def human() -> None:
        verb = "would move" if args.dry_run else "moved"
        print(
            f"policy {d['policy']}: {d['examined']} stored recording(s) examined; {verb} "
            f"{d['moved_earlier']} earlier ({d['now_expired']} now expired: the next "
            f"retention run destroys them) and {d['moved_later']} later; {d['unchanged']} "
            f"unchanged; {d['newly_assigned']} newly assigned"
        )
        for change, n in sorted(d["class_changes"].items()):
            print(f"  class {change}: {n}")

    emit(args, d, human)
    return 0


def cmd_run(args: argparse.Namespace, ctx: Context) -> int:
    from retention_jobs.purge import PurgeFailed
    from retention_jobs.stopping import StopRequest, stop_on_signals
    from storage.clock import utcnow

    svc = ctx.services()
    stop = StopRequest()
    with (
        stop_on_signals(stop),
        progress("destroying expired recordings", unit="recordings") as advance,
    ):

        def on_step(step: str, ids: list[str]) -> None:
            if step == "finalised":
                advance(len(ids))

        try:
            report = svc.purger(on_step=on_step).run(
                now=args.now or utcnow(),
                actor=actor(),
                dry_run=args.dry_run,
                should_stop=stop.is_set,
            )
        except PurgeFailed as exc:
            failed = exc.report
            emit(args, failed.as_dict(), lambda: print(*failed.lines(), sep="\n"))
            raise
    emit(args, report.as_dict(), lambda: print(*report.lines(), sep="\n"))
    return 0


def cmd_schedule(args: argparse.Namespace, ctx: Context) -> int:
    from callvault.jobs import job_specs
    from retention_jobs.scheduler import CATALOGUE_STORE, planned, stored_next_runs
    from storage.clock import utcnow

    svc = ctx.services(migrated=False)
    specs = job_specs(svc.settings)
    try:
        stored = stored_next_runs(svc.catalogue.engine)
    except Exception as exc:  # no catalogue yet: the configured triggers still answer
        log.debug("job table unreadable: %s", exc)
        stored = {}
    rows = planned(specs, now=utcnow(), stored=stored)

    def human() -> None:
        for row in rows:
            where = (
                "shared by every node (catalogue)"
                if row["store"] == CATALOGUE_STORE
                else "each serve process"
            )
            print(f"{row['id']}: {row['trigger']}, {where}")
            print(f"  next runs: {', '.join(row['next_runs'])}")
            if row["catch_up_pending"]:
                print(f"  missed run at {row['stored_next_run']}: runs once when serve starts")
            if row["runs_at_start"]:
                print("  also runs when serve starts")
        if not svc.settings.schedule.purge_enabled:
            print("retention purge: disabled on this node (schedule.purge_enabled = false)")

    emit(args, rows, human)
    return 0


def cmd_records(args: argparse.Namespace, ctx: Context) -> int:
    from retention_jobs.records import destroyed_between

    svc = ctx.services()
    with svc.catalogue.session() as s:
        rows = destroyed_between(s, args.since, args.until)

    def human() -> None:
        for d in rows:
            what = d["recording_id"] or f"consent-only record {d['consent_record_id']}"
            print(
                f"{d['destroyed_at'][:19]}  {what}  class {d['retention_class']} "
                f"({d['retention_period']})  policy {d['policy_id']}@"
                f"{d['policy_fingerprint']}  run {d['run_id']}"
            )
        note(f"{len(rows)} destruction record(s)")

    emit(args, rows, human)
    return 0


def register(cli: Registrar) -> None:
    ret = cli.group("retention", "retention policy, purge runs, schedule")
    ret.command("policy", cmd_policy, "show the effective retention policy")
    ap = ret.command("apply", cmd_apply, "recompute every stored recording's class and expiry")
    ap.add_argument("--dry-run", action="store_true", help="count the changes, write nothing")
    ap.add_argument("--now", type=parse_time, help="judge 'now expired' as of this time (UTC)")
    run = ret.command("run", cmd_run, "destroy every expired recording that no hold protects")
    run.add_argument("--dry-run", action="store_true", help="list what would go and why")
    run.add_argument("--now", type=parse_time, help="judge expiry as of this time (default: now)")
    ret.command("schedule", cmd_schedule, "next run times of the scheduled jobs")
    rec = ret.command("records", cmd_records, "destruction records (no personal data)")
    rec.add_argument("--since", type=parse_time)
    rec.add_argument("--until", type=parse_time)
