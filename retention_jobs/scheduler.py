"""APScheduler 3 wiring for `callvault serve`: the purge on a cron, the spool resume on an
interval.

The purge job lives in the catalogue database (SQLAlchemyJobStore, shared by every node), so a
run missed while all nodes were down is caught up once after start-up: coalesce=True folds the
missed runs into one, max_instances=1 stops overlaps, and misfire_grace_time bounds how late a
catch-up may be. Several nodes sharing the store may each fire the same trigger: the job
functions (callvault/jobs.py) then run it on one node only (retention_jobs/run_once.py: an
advisory lock while it runs, the trigger claimed in job_runs). The spool resume is per node
(each node has its own spool), so it lives in an in-memory store and also runs at start-up.

Job functions are referenced as "module:function" text and pickled by reference: keep them
importable, module-level, and taking only plain arguments.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, create_engine, select, update

from retention_jobs.triggers import zone
from storage.catalogue.models import apscheduler_jobs

log = logging.getLogger(__name__)
CATALOGUE_STORE = "catalogue"
LOCAL_STORE = "local"


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: what to call, when, and which job store keeps it."""

    id: str
    func: str  # "package.module:function"
    args: tuple[Any, ...]
    trigger: Any
    store: str  # CATALOGUE_STORE (shared by every node) or LOCAL_STORE (this process only)
    misfire_grace_s: int
    run_at_start: bool = False


def ensure_jobs(scheduler: Any, specs: Sequence[JobSpec]) -> list[str]:
    """Register the jobs on a started scheduler; returns one line per job.

    A job already in the shared store keeps its next run time (a run missed during downtime is
    then caught up once); only a changed trigger reschedules it.
    """
    lines = []
    for spec in specs:
        job = scheduler.get_job(spec.id, jobstore=spec.store)
        common = {
            "args": spec.args,
            "misfire_grace_time": spec.misfire_grace_s,
            "coalesce": True,
            "max_instances": 1,
            "name": spec.id,
        }
        if job is None:
            extra = {"next_run_time": datetime.now(UTC)} if spec.run_at_start else {}
            job = scheduler.add_job(
                spec.func,
                trigger=spec.trigger,
                id=spec.id,
                jobstore=spec.store,
                replace_existing=True,
                **common,
                **extra,
            )
            what = "added"
        elif repr(job.trigger) != repr(spec.trigger):
            job.modify(func=spec.func, **common)
            job = scheduler.reschedule_job(spec.id, jobstore=spec.store, trigger=spec.trigger)
            what = "rescheduled (trigger changed)"
        else:
            job.modify(func=spec.func, **common)
            job = scheduler.get_job(spec.id, jobstore=spec.store)
            what = "kept"
        lines.append(
            f"{spec.id}: {what}, {spec.trigger}, next run "
            f"{_iso(getattr(job, 'next_run_time', None))}"
        )
    return lines


class ScheduledJobs:
    """A BackgroundScheduler running ``specs``, as a component with start()/stop() so that
    `serve` can run others beside it. Jobs in CATALOGUE_STORE are kept in the catalogue
    database (same URL, own engine); ``shared_store=False`` leaves that store out, for a node
    that must not run shared jobs."""

    def __init__(
        self,
        specs: Sequence[JobSpec],
        *,
        database_url: str,
        timezone: str,
        shared_store: bool = True,
        workers: int = 2,
        renamed: Mapping[str, str] | None = None,
    ) -> None:
        self.specs = [s for s in specs if shared_store or s.store != CATALOGUE_STORE]
        self.renamed = dict(renamed or {})
        stores: dict[str, Any] = {LOCAL_STORE: MemoryJobStore()}
        self._engine: Engine | None = None
        if shared_store:
            sqlite = database_url.startswith("sqlite")
            self._engine = create_engine(
                database_url,
                **({"connect_args": {"timeout": 30}} if sqlite else {"pool_pre_ping": True}),
            )
            stores[CATALOGUE_STORE] = SQLAlchemyJobStore(engine=self._engine)
        self.scheduler = BackgroundScheduler(
            jobstores=stores,
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=zone(timezone),
        )
        triggers = {spec.id: spec.trigger for spec in self.specs}
        self.scheduler.add_listener(
            lambda ev: _log_event(triggers, ev),
            EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_EXECUTED,
        )

    def start(self) -> list[str]:
        lines = rename_stored_jobs(self._engine, self.renamed) if self._engine else []
        self.scheduler.start(paused=True)  # job stores open; nothing runs until resume()
        lines += ensure_jobs(self.scheduler, self.specs)
        self.scheduler.resume()
        return lines

    def stop(self) -> None:
        """Waits for running jobs (the purge stops after its current batch when asked)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self._engine is not None:
            # The scheduler thread looks for due jobs once more after the store disposed the
            # engine; dispose again now that the thread has ended, or that connection leaks.
            self._engine.dispose()


def rename_stored_jobs(engine: Engine, renamed: Mapping[str, str]) -> list[str]:
    """Point stored jobs whose function moved (old "module:function" -> new) at the new one.

    Run before the scheduler opens the store: it drops a job whose function it cannot import,
    and with it the stored next run time (a missed run would no longer be caught up).
    """
    if not renamed:
        return []
    lines = []
    with engine.begin() as conn:
        rows = conn.execute(select(apscheduler_jobs.c.id, apscheduler_jobs.c.job_state))
        for job_id, blob in rows.all():
            state = pickle.loads(blob)  # noqa: S301 - our own job table, as APScheduler reads it
            new = renamed.get(state.get("func"))
            if new is None:
                continue
            old, state["func"] = state["func"], new
            conn.execute(
                update(apscheduler_jobs)
                .where(apscheduler_jobs.c.id == job_id)
                .values(job_state=pickle.dumps(state, pickle.HIGHEST_PROTOCOL))
            )
            lines.append(f"{job_id}: stored job moved from {old} to {new}")
    return lines


def stored_next_runs(engine: Engine) -> dict[str, datetime | None]:
    """Next run times kept in the catalogue's job table (what a starting node will honour)."""
    with engine.connect() as conn:
        rows = conn.execute(select(apscheduler_jobs.c.id, apscheduler_jobs.c.next_run_time))
        return {str(i): datetime.fromtimestamp(t, UTC) if t is not None else None for i, t in rows}


def planned(
    specs: Sequence[JobSpec], *, now: datetime, stored: dict[str, datetime | None], count: int = 3
) -> list[dict[str, Any]]:
    """Per job: the trigger, the next ``count`` fire times from now, and the stored next run."""
    out = []
    for spec in specs:
        times: list[datetime] = []
        t = spec.trigger.get_next_fire_time(None, now)
        while t is not None and len(times) < count:
            times.append(t)
            t = spec.trigger.get_next_fire_time(t, t + timedelta(microseconds=1))
        kept = stored.get(spec.id) if spec.store == CATALOGUE_STORE else None
        out.append(
            {
                "id": spec.id,
                "trigger": str(spec.trigger),
                "store": spec.store,
                "next_runs": [x.isoformat() for x in times],
                "stored_next_run": _iso(kept),
                "catch_up_pending": bool(kept and kept <= now),
                "misfire_grace_s": spec.misfire_grace_s,
                "runs_at_start": spec.run_at_start,
            }
        )
    return out


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def _log_event(triggers: dict[str, Any], ev: JobEvent) -> None:
    """Runs in an executor thread. It must not call back into the scheduler: shutdown(wait=True)
    holds the job-store lock while it waits for that thread, so get_job() here would deadlock."""
    trigger = triggers.get(ev.job_id)
    now = datetime.now(UTC)
    nxt = _iso(trigger.get_next_fire_time(None, now) if trigger else None) or "none"
    if ev.code == EVENT_JOB_ERROR:
        log.error(
            "job %s failed: %s; it runs again at its next trigger (%s)",
            ev.job_id,
            getattr(ev, "exception", "?"),
            nxt,
        )
    elif ev.code == EVENT_JOB_MISSED:
        log.warning(
            "job %s missed its %s run (later than its misfire grace time); next run at %s",
            ev.job_id,
            _iso(getattr(ev, "scheduled_run_time", None)),
            nxt,
        )
    else:
        log.info("job %s done: %s; next run at %s", ev.job_id, getattr(ev, "retval", None), nxt)
