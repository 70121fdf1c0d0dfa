"""A shared scheduled job runs once per trigger across every node serving one catalogue.

Every node's scheduler reads the same job store, so two nodes can fire the same trigger. Two
guards, both released by the system when a node dies:

- while it runs, the job holds an exclusive lock: on PostgreSQL a session-level
  `pg_try_advisory_lock` on a connection of its own (it ends with the connection, so a node
  killed mid-job frees it); on SQLite, a single-node catalogue, a `flock` on a file in
  `lock_dir`. A node that cannot take it skips: another node is running the job.
- the trigger time (`slot`) is claimed by inserting (job, slot) into `job_runs`: a node that
  fires the same trigger after the first has finished finds the row and skips.

A node killed mid-job leaves its slot claimed (that trigger is not run again: the purge and the
due check pick up what was left at the next one) and its lock gone, so the next trigger runs
on whichever node fires it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, text, update
from sqlalchemy.exc import IntegrityError

from storage import metrics
from storage.catalogue.models import JobRun
from storage.clock import utcnow
from storage.fsutil import try_flock

log = logging.getLogger(__name__)
MAX_STEPS = 10_000


def lock_key(job: str) -> int:
    """The job's advisory-lock key: a signed 64-bit number from its name."""
    digest = hashlib.sha256(f"callvault.job:{job}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def latest_fire_time(trigger: Any, now: datetime, lookback: timedelta) -> datetime | None:
    """The trigger's last fire time at or before ``now``, looking back at most ``lookback``
    (the job's misfire grace: the scheduler runs nothing later than that)."""
    t = trigger.get_next_fire_time(None, now - lookback)
    last = None
    for _ in range(MAX_STEPS):
        if t is None or t > now:
            break
        last = t
        t = trigger.get_next_fire_time(t, t + timedelta(microseconds=1))
    return last


class RunOnce:
    """Claims a shared job's trigger for this node; see the module docstring."""

    def __init__(self, engine: Engine, *, node: str, lock_dir: Path) -> None:
        self.engine = engine
        self.node = node
        self.lock_dir = lock_dir
        self.postgres = engine.dialect.name == "postgresql"

    @contextmanager
    def __call__(self, job: str, slot: datetime | None) -> Iterator[bool]:
        """Yields True when this node runs the job for ``slot`` (None: no slot claim, only the
        lock), False when another node has it; records how the run ended."""
        with self.exclusive(job) as held:
            if not held:
                metrics.JOB_RUNS.labels(job=job, result="skipped").inc()
                log.info("job %s: another node is running it; skipped here", job)
                yield False
                return
            if slot is not None and not self._claim(job, slot):
                metrics.JOB_RUNS.labels(job=job, result="skipped").inc()
                log.info("job %s: the %s trigger ran on another node", job, slot.isoformat())
                yield False
                return
            try:
                yield True
            except BaseException as exc:
                metrics.JOB_RUNS.labels(job=job, result="failed").inc()
                if slot is not None:
                    self._finish(job, slot, "failed", f"{type(exc).__name__}: {exc}")
                raise
            metrics.JOB_RUNS.labels(job=job, result="ran").inc()
            if slot is not None:
                self._finish(job, slot, "ok", None)

    @contextmanager
    def exclusive(self, job: str) -> Iterator[bool]:
        """The job's lock, without waiting: True if this node holds it now."""
        if not self.postgres:
            with self.local(job) as held:
                yield held
            return
        key = lock_key(job)
        conn = self.engine.connect()  # its own connection: the lock lives as long as it
        try:
            held = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))
            conn.commit()
            try:
                yield held
            finally:
                if held:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
        except BaseException:
            conn.invalidate()  # never hand a connection that may still hold it back to the pool
            raise
        finally:
            conn.close()

    @contextmanager
    def local(self, job: str) -> Iterator[bool]:
        """A lock among this machine's processes only (a file in lock_dir): for per-node jobs
        such as the spool resume."""
        self.lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with try_flock(self.lock_dir / f"{job}.lock") as held:
            yield held

    def _claim(self, job: str, slot: datetime) -> bool:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(JobRun).values(
                        job=job, slot=slot.astimezone(UTC), node=self.node, started_at=utcnow()
                    )
                )
        except IntegrityError:
            return False
        return True

    def _finish(self, job: str, slot: datetime, result: str, detail: str | None) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(JobRun)
                    .where(JobRun.job == job, JobRun.slot == slot.astimezone(UTC))
                    .values(finished_at=utcnow(), result=result, detail=detail)
                )
        except Exception as exc:  # the run itself is over; its row keeps started_at only
            log.warning("job %s: could not record the run's end: %s", job, type(exc).__name__)
