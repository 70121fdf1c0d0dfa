"""`callvault retention …`, `callvault hold …` and `callvault serve`: parsers, handlers, and the
scheduled job entry points (`scheduled_purge`, `scheduled_resume`).

The job entry points are stored in the catalogue's job table by reference ("module:function"):
keep their names and this module path stable, or rename them together with a migration of the
stored jobs.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from callvault.cli_common import actor, emit, parse_time
from callvault.settings import Settings, load_settings
from callvault.wiring import Services
from retention_jobs.assign import apply_policy
from retention_jobs.errors import RetentionError
from retention_jobs.purge import PurgeFailed
from retention_jobs.records import destroyed_between
from retention_jobs.scheduler import (
    CATALOGUE_STORE,
    LOCAL_STORE,
    JobSpec,
    ScheduledJobs,
    planned,
    stored_next_runs,
)
from retention_jobs.stopping import StopRequest, stop_on_signals
from retention_jobs.triggers import cron_trigger, interval_trigger
from storage.audit import AuditLog
from storage.clock import utcnow

log = logging.getLogger("callvault.retention")
Handler = Callable[[argparse.Namespace, Services], int]
PURGE_JOB = "retention-purge"
RESUME_JOB = "spool-resume"


# -- retention ------------------------------------------------------------------------------


def cmd_policy(args: argparse.Namespace, svc: Services) -> int:
    doc = svc.retention_policy().describe()
    r = svc.settings.retention
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


def cmd_apply(args: argparse.Namespace, svc: Services) -> int:
    svc.catalogue.require_current()
    report = apply_policy(
        svc.catalogue,
        svc.retention_policy(),
        now=args.now or utcnow(),
        actor=actor(),
        audit=AuditLog(),
        dry_run=args.dry_run,
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


def cmd_run(args: argparse.Namespace, svc: Services) -> int:
    svc.catalogue.require_current()
    stop = StopRequest()
    with stop_on_signals(stop):
        try:
            report = svc.purger().run(
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


def cmd_schedule(args: argparse.Namespace, svc: Services) -> int:
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


def cmd_records(args: argparse.Namespace, svc: Services) -> int:
    svc.catalogue.require_current()
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
        print(f"{len(rows)} destruction record(s)", file=sys.stderr)

    emit(args, rows, human)
    return 0


# -- holds ----------------------------------------------------------------------------------


def cmd_hold_add(args: argparse.Namespace, svc: Services) -> int:
    svc.catalogue.require_current()
    view = svc.holds().add(
        args.reference,
        args.reason,
        actor=actor(),
        recordings=args.recording,
        case_ids=args.case_id,
    )

    def human() -> None:
        print(
            f"hold {view['reference']} added: covers {len(view['covered_recordings'])} "
            f"recording(s) now"
            + (
                " and any recording tagged later with case id(s) " + ", ".join(view["case_ids"])
                if view["case_ids"]
                else ""
            )
        )

    emit(args, view, human)
    if view["already_destroyed_or_destroying"]:
        print(
            f"callvault: warning: {len(view['already_destroyed_or_destroying'])} recording(s) "
            "of these cases were already destroyed or being destroyed: "
            + ", ".join(view["already_destroyed_or_destroying"]),
            file=sys.stderr,
        )
    return 0


def cmd_hold_release(args: argparse.Namespace, svc: Services) -> int:
    svc.catalogue.require_current()
    view = svc.holds().release(args.reference, actor=actor(), reason=args.reason)
    emit(
        args,
        view,
        lambda: print(
            f"hold {view['reference']} released; {len(view['expired_now_unheld'])} expired "
            "recording(s) are no longer held: the next retention run destroys them"
        ),
    )
    return 0


def cmd_hold_list(args: argparse.Namespace, svc: Services) -> int:
    svc.catalogue.require_current()
    holds = svc.holds().list_holds(include_released=args.all)

    def human() -> None:
        for h in holds:
            state = "active" if h["active"] else f"released {h['released_at'][:19]}"
            print(
                f"{h['reference']:<24} {state:<28} {len(h['covered_recordings']):>6} "
                f"recording(s)  {h['reason']}"
            )
        print(f"{len(holds)} hold(s)", file=sys.stderr)

    emit(args, holds, human)
    return 0


# -- serve and its scheduled jobs -----------------------------------------------------------


@dataclass(frozen=True)
class _Node:
    """What the serving process tells its job functions: its own configuration, and when to
    stop. It wins over the path pickled in the shared job table (written by whichever node
    registered the job last)."""

    config: Path | None
    stop: StopRequest


_node: _Node | None = None


class ServeError(RetentionError):
    """`serve` ended because one of its components died."""


def job_specs(settings: Settings) -> list[JobSpec]:
    sch = settings.schedule
    cfg = str(settings.config_file) if settings.config_file else None
    specs = [
        JobSpec(
            RESUME_JOB,
            f"{__name__}:scheduled_resume",
            (cfg,),
            interval_trigger(sch.resume_interval_s, sch.timezone),
            LOCAL_STORE,
            misfire_grace_s=sch.resume_interval_s,
            run_at_start=True,
        )
    ]
    if sch.purge_enabled:
        specs.append(
            JobSpec(
                PURGE_JOB,
                f"{__name__}:scheduled_purge",
                (cfg,),
                cron_trigger(sch.purge_cron, sch.timezone),
                CATALOGUE_STORE,
                misfire_grace_s=sch.purge_misfire_grace_s,
            )
        )
    return specs


def _job_services(config_path: str | None) -> Services:
    node = _node
    path = node.config if node else (Path(config_path) if config_path else None)
    svc = Services.build(load_settings(path))
    svc.catalogue.require_current()
    return svc


def scheduled_purge(config_path: str | None = None) -> str:
    """The nightly purge (APScheduler job). Raises on failure: logged, retried next trigger."""
    node = _node
    svc = _job_services(config_path)
    try:
        report = svc.purger().run(
            now=utcnow(), actor="scheduler", should_stop=node.stop.is_set if node else None
        )
    finally:
        svc.close()
    return report.summary()


def scheduled_resume(config_path: str | None = None) -> str:
    """Finish whatever ingest jobs are left in this node's spool (APScheduler job)."""
    from callvault.agent_runner import recover_spool

    svc = _job_services(config_path)
    try:
        lines = recover_spool(svc)  # calls a stopped agent left behind, then ingest jobs
    finally:
        svc.close()
    return "spool resume: " + ("; ".join(lines) if lines else "empty")


class Component(Protocol):
    """Something `serve` runs until stopped: the scheduled jobs now, the SIP agent next
    (callvault.agent_runner.AgentComponent has this shape). A component may expose `failed`
    (an exception once it has died), which ends `serve` with exit code 1."""

    def start(self) -> list[str]: ...

    def stop(self) -> None: ...


def cmd_serve(args: argparse.Namespace, svc: Services) -> int:
    global _node
    svc.catalogue.require_current()
    settings = svc.settings
    stop = StopRequest()
    components: list[Component] = [
        ScheduledJobs(
            job_specs(settings),
            database_url=settings.database.url,
            timezone=settings.schedule.timezone,
            shared_store=settings.schedule.purge_enabled,
        ),
    ]
    if not args.no_agent:
        from callvault.agent_runner import AgentComponent

        components.append(AgentComponent(svc))
    started: list[Component] = []
    failed: BaseException | None = None
    _node = _Node(settings.config_file, stop)
    try:
        with stop_on_signals(stop):
            for c in components:
                for line in c.start():
                    log.info(line)
                started.append(c)
            log.info("serving (pid %d); SIGTERM or Ctrl-C stops", os.getpid())
            while not stop.is_set() and failed is None:
                time.sleep(0.2)
                failed = next((e for c in started if (e := getattr(c, "failed", None))), None)
            log.info("stopping: running jobs finish their current step")
    finally:
        for c in reversed(started):
            c.stop()
        _node = None
    if failed is not None:
        raise ServeError(f"serve stopped because a component failed: {failed}") from failed
    log.info("stopped")
    return 0


# -- parser ---------------------------------------------------------------------------------


def register(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add `retention`, `hold` and `serve` to the top-level subparsers (see cli.build_parser)."""
    ret = sub.add_parser("retention", help="retention policy, purge runs, schedule")
    rsub = ret.add_subparsers(dest="action", required=True, metavar="ACTION")
    add("policy", cmd_policy, "show the effective retention policy", rsub)
    ap = add("apply", cmd_apply, "recompute every stored recording's class and expiry", rsub)
    ap.add_argument("--dry-run", action="store_true", help="count the changes, write nothing")
    ap.add_argument("--now", type=parse_time, help="judge 'now expired' as of this time (UTC)")
    run = add("run", cmd_run, "destroy every expired recording that no hold protects", rsub)
    run.add_argument("--dry-run", action="store_true", help="list what would go and why")
    run.add_argument("--now", type=parse_time, help="judge expiry as of this time (default: now)")
    add("schedule", cmd_schedule, "next run times of the scheduled jobs", rsub)
    rec = add("records", cmd_records, "destruction records (no personal data)", rsub)
    rec.add_argument("--since", type=parse_time)
    rec.add_argument("--until", type=parse_time)

    hold = sub.add_parser("hold", help="legal holds: held recordings are never destroyed")
    hsub = hold.add_subparsers(dest="action", required=True, metavar="ACTION")
    ha = add("add", cmd_hold_add, "put recordings (by ID or case id) under a legal hold", hsub)
    ha.add_argument("--reference", required=True, help="the hold's reference, e.g. LIT-2026-01")
    ha.add_argument("--reason", required=True, help="why (written to the audit log)")
    target = ha.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--recording",
        action="append",
        default=[],
        metavar="ID",
        help="a recording to hold (repeatable)",
    )
    target.add_argument(
        "--case-id",
        action="append",
        default=[],
        metavar="C",
        help="hold every recording of case C, also those tagged later",
    )
    hr = add("release", cmd_hold_release, "release a hold (audited)", hsub)
    hr.add_argument("reference", metavar="REF")
    hr.add_argument("--reason", help="why it is released (written to the audit log)")
    hl = add("list", cmd_hold_list, "active holds (--all: released ones too)", hsub)
    hl.add_argument("--all", action="store_true")

    serve = add(
        "serve",
        cmd_serve,
        "SIP agent + scheduled jobs (retention purge, spool resume) until SIGTERM/SIGINT",
        json_flag=False,
    )
    serve.add_argument(
        "--no-agent",
        action="store_true",
        help="only the scheduled jobs (a node that takes no calls)",
    )
