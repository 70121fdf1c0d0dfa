"""The scheduled jobs of `callvault serve`: their specs and their entry points.

The entry points are stored in the catalogue's job table by reference ("module:function"):
keep their names and this module path stable, or add the old reference to RENAMED (the
scheduler rewrites stored jobs from it when it starts).

A job runs in a scheduler thread of the serving process. It takes its configuration and its
stop flag from the node that runs it (`serving`), not from the arguments pickled in the shared
job table, which hold whatever the node that registered the job last had.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from retention_jobs.stopping import StopRequest

if TYPE_CHECKING:
    from callvault.settings import Settings
    from callvault.wiring import Services
    from retention_jobs.run_once import RunOnce
    from retention_jobs.scheduler import JobSpec

PURGE_JOB = "retention-purge"
RESUME_JOB = "spool-resume"
ANCHOR_JOB = "audit-anchor"
REQUESTS_DUE_JOB = "requests-due"
RENAMED = {
    "callvault.cli_retention:scheduled_purge": f"{__name__}:scheduled_purge",
    "callvault.cli_retention:scheduled_resume": f"{__name__}:scheduled_resume",
}


@dataclass(frozen=True)
class Node:
    """The serving process as its jobs see it: its own configuration, and when to stop."""

    config: Path | None
    stop: StopRequest


class _Serving:
    """Which Node this process is serving as (at most one at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._node: Node | None = None

    @contextmanager
    def __call__(self, node: Node) -> Iterator[Node]:
        with self._lock:
            if self._node is not None:
                raise RuntimeError("this process is already serving")
            self._node = node
        try:
            yield node
        finally:
            with self._lock:
                self._node = None

    @property
    def node(self) -> Node | None:
        return self._node


serving = _Serving()


def job_specs(settings: Settings) -> list[JobSpec]:
    """The jobs `serve` schedules: the spool resume (per node), the audit anchor and the
    purge (shared)."""
    from retention_jobs.scheduler import CATALOGUE_STORE, LOCAL_STORE, JobSpec
    from retention_jobs.triggers import cron_trigger, interval_trigger

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
    specs.append(  # shared: whichever node runs it anchors the one chain
        JobSpec(
            ANCHOR_JOB,
            f"{__name__}:scheduled_anchor",
            (cfg,),
            interval_trigger(sch.anchor_interval_s, sch.timezone),
            CATALOGUE_STORE,
            misfire_grace_s=sch.anchor_interval_s,
        )
    )
    specs.append(  # shared: one daily check of data-subject requests' due dates
        JobSpec(
            REQUESTS_DUE_JOB,
            f"{__name__}:scheduled_requests_due",
            (cfg,),
            cron_trigger(sch.requests_due_cron, sch.timezone),
            CATALOGUE_STORE,
            misfire_grace_s=86400,
        )
    )
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


def node_name() -> str:
    """How job_runs names this process: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _run_once(svc: Services) -> RunOnce:
    from retention_jobs.run_once import RunOnce

    lock_dir = svc.settings.spool.dir / ".locks"
    return RunOnce(svc.catalogue.engine, node=node_name(), lock_dir=lock_dir)


def _once(svc: Services, job_id: str, run: Callable[[], str]) -> str:
    """Run a shared job unless another node has this trigger (retention_jobs/run_once.py)."""
    from retention_jobs.run_once import latest_fire_time
    from storage.clock import utcnow

    spec = next(s for s in job_specs(svc.settings) if s.id == job_id)
    grace = timedelta(seconds=spec.misfire_grace_s + 1)
    slot = latest_fire_time(spec.trigger, utcnow(), grace)
    with _run_once(svc)(job_id, slot) as mine:
        return run() if mine else f"{job_id}: skipped, another node has this trigger"


def _job_services(config_path: str | None) -> Services:
    from callvault.settings import load_settings
    from callvault.wiring import Services

    node = serving.node
    path = node.config if node else (Path(config_path) if config_path else None)
    svc = Services.build(load_settings(path))
    svc.catalogue.require_current()
    return svc


def scheduled_purge(config_path: str | None = None) -> str:
    """The nightly purge (APScheduler job). Raises on failure: logged, retried next trigger."""
    from storage.clock import utcnow

    node = serving.node
    svc = _job_services(config_path)

    def purge() -> str:
        stop = node.stop.is_set if node else None
        return svc.purger().run(now=utcnow(), actor="scheduler", should_stop=stop).summary()

    try:
        return _once(svc, PURGE_JOB, purge)
    finally:
        svc.close()


def scheduled_resume(config_path: str | None = None) -> str:
    """Finish whatever ingest jobs are left in this node's spool (APScheduler job)."""
    from callvault.agent_runner import recover_spool

    svc = _job_services(config_path)
    try:
        # Per node (its own spool), once among the processes sharing it.
        with _run_once(svc).local(RESUME_JOB) as mine:
            if not mine:
                return "spool resume: skipped, another process on this node is resuming"
            lines = recover_spool(svc)  # calls a stopped agent left behind, then ingest jobs
    finally:
        svc.close()
    return "spool resume: " + ("; ".join(lines) if lines else "empty")


def scheduled_anchor(config_path: str | None = None) -> str:
    """Copy the audit chain's head to the object store (APScheduler job)."""
    from storage.anchors import write_anchor

    svc = _job_services(config_path)

    def anchor() -> str:
        a = write_anchor(svc.catalogue, svc.store)
        return f"audit anchor: row {a.seq} as {a.key}"

    try:
        return _once(svc, ANCHOR_JOB, anchor)
    finally:
        svc.close()


def scheduled_requests_due(config_path: str | None = None) -> str:
    """Log (and announce through the outbox) data-subject requests due soon or overdue."""
    from consent.requests_due import due_check
    from storage.clock import utcnow

    svc = _job_services(config_path)
    days = svc.settings.schedule.requests_due_days

    def check() -> str:
        due = due_check(svc.subject_requests(), now=utcnow(), within_days=days)
        overdue = sum(1 for v in due if v["overdue"])
        return f"requests due: {len(due)} within {days} day(s), {overdue} overdue"

    try:
        return _once(svc, REQUESTS_DUE_JOB, check)
    finally:
        svc.close()
