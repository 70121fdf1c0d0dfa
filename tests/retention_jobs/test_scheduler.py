"""`callvault serve` and its APScheduler jobs: registration in the catalogue job store, one
catch-up run after downtime, failures logged and retried, clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select

from callvault.wiring import Services
from retention_jobs.scheduler import (
    CATALOGUE_STORE,
    JobSpec,
    ScheduledJobs,
    ensure_jobs,
    stored_next_runs,
)
from retention_jobs.triggers import cron_trigger
from storage.catalogue.models import AuditEvent
from tests.conftest import CALLVAULT, Backend
from tests.pipes import communicate, lines_until
from tests.retention_jobs.conftest import make_recordings, records, set_policy

CALLS: list[str] = []


def failing_job(label: str) -> None:
    CALLS.append(label)
    raise RuntimeError(f"{label}: catalogue unreachable")


def noop_job(label: str) -> str:
    CALLS.append(label)
    return label


def with_schedule(backend: Backend, schedule: str) -> None:
    backend.config.write_text(backend.config.read_text() + "\n[schedule]\n" + schedule)
    backend.settings = backend.reload()


def serve(backend: Backend) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}
    return subprocess.Popen(
        [CALLVAULT, "--config", str(backend.config), "serve", "--no-agent"],
        cwd=backend.config.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for(proc: subprocess.Popen[str], needle: str, timeout: float = 60) -> list[str]:
    """serve's stderr lines up to the one holding ``needle``; a serve gone silent fails at the
    deadline (tests/pipes.py reads with select, never a blocking readline)."""
    return lines_until(proc.stderr, needle, timeout, "serve")


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> str:
    """Signal serve and expect a clean exit 0; a hang is killed (never left behind) and fails."""
    proc.send_signal(sig)
    try:
        _, err = communicate(proc, timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"serve did not stop within 30 s of {sig!r}:\n{err}") from None
    assert proc.returncode == 0, err
    return err


def test_wait_for_keeps_what_it_read_ahead_and_fails_at_its_deadline_on_silence() -> None:
    """The helper itself: two lines written at once are both found, and a process that then
    goes silent (here for 60 s) fails wait_for at its 1 s deadline instead of hanging."""
    speak = "import sys, time; sys.stderr.write('one\\ntwo\\n'); sys.stderr.flush(); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", speak], stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(proc, "one", timeout=30) == ["one\n"]
        assert wait_for(proc, "two", timeout=30) == ["two\n"]
        began = time.monotonic()
        with pytest.raises(AssertionError, match="'never' not seen within 1 s"):
            wait_for(proc, "never", timeout=1)
        assert time.monotonic() - began < 30  # the 60 s of silence were not waited out
    finally:
        proc.kill()
        proc.communicate()


def run_events(svc: Services) -> int:
    with svc.catalogue.session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "retention.run")
            )
            or 0
        )


@pytest.fixture
def minute() -> int:
    """A minute of the hour half an hour away: no regular hourly run falls inside a test."""
    return (datetime.now(UTC).minute + 30) % 60


@pytest.fixture
def served(backend: Backend, minute: int) -> Iterator[Services]:
    set_policy(backend)
    # Hourly, so that several runs can be missed during a "downtime".
    with_schedule(backend, f'purge_cron = "{minute} * * * *"\n')
    backend.cli("init", check=True)
    svc = Services.build(backend.settings)
    yield svc
    svc.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_registers_jobs_and_stops_cleanly(
    backend: Backend, served: Services, sig: int
) -> None:
    proc = serve(backend)
    try:
        lines = wait_for(proc, "serving (pid")
        assert any("retention-purge: added" in x for x in lines)
        # The local job runs at start-up, before or after serve says it is serving.
        if not any("job spool-resume done" in x for x in lines):
            wait_for(proc, "job spool-resume done")
    finally:
        err = stop(proc, sig)
    assert "stopping" in err and err.rstrip().endswith("stopped")
    stored = stored_next_runs(served.catalogue.engine)
    # The purge, the audit anchor and the requests' due check are shared jobs (stored); the
    # spool job is per node, in memory.
    assert set(stored) == {"retention-purge", "audit-anchor", "requests-due"}
    assert stored["retention-purge"] is not None
    assert stored["retention-purge"] > datetime.now(UTC)
    proc = serve(backend)  # a restart keeps the stored job and its next run time
    try:
        lines = wait_for(proc, "serving (pid")
        assert any("retention-purge: kept" in x for x in lines)
    finally:
        stop(proc)


def _set_stored_next_run(url: str, when: datetime) -> None:
    store = SQLAlchemyJobStore(url=url)
    store.start(BackgroundScheduler(timezone=UTC), CATALOGUE_STORE)
    try:
        job = store.lookup_job("retention-purge")
        job._modify(next_run_time=when)
        store.update_job(job)
    finally:
        store.shutdown()


def test_one_catch_up_run_after_downtime_not_a_storm(
    backend: Backend, served: Services, tmp_path: Path
) -> None:
    proc = serve(backend)
    try:
        wait_for(proc, "serving (pid")
    finally:
        stop(proc)
    # Every node was down for five hours: five hourly runs were missed.
    _set_stored_next_run(
        served.settings.database.url, datetime.now(UTC) - timedelta(hours=5, minutes=1)
    )
    made = make_recordings(
        served, 3, started_at=datetime.now(UTC) - timedelta(days=100), tmp=tmp_path
    )
    pending = json.loads(backend.cli("retention", "schedule", "--json", check=True).stdout)
    purge = next(j for j in pending if j["id"] == "retention-purge")
    assert purge["catch_up_pending"] and purge["store"] == "catalogue"

    proc = serve(backend)
    try:
        wait_for(proc, "job retention-purge done")
        time.sleep(2)  # a storm would show as more runs here
    finally:
        stop(proc)
    assert run_events(served) == 1
    assert sorted(r.recording_id for r in records(served)) == sorted(m.id for m in made)
    assert stored_next_runs(served.catalogue.engine)["retention-purge"] > datetime.now(UTC)


def test_failed_job_is_logged_with_reason_and_retried(
    backend: Backend, served: Services, caplog: pytest.LogCaptureFixture
) -> None:
    hour = (datetime.now(UTC).hour + 12) % 24  # its next regular run is hours away
    CALLS.clear()
    caplog.set_level(logging.INFO)
    spec = JobSpec(
        "flaky",
        f"{__name__}:failing_job",
        ("nightly",),
        cron_trigger(f"0 {hour} * * *", "UTC"),
        CATALOGUE_STORE,
        misfire_grace_s=3600,
    )
    jobs = ScheduledJobs([spec], database_url=served.settings.database.url, timezone="UTC")
    scheduler = jobs.scheduler
    jobs.start()
    try:
        scheduler.modify_job(
            "flaky",
            jobstore=CATALOGUE_STORE,
            next_run_time=datetime.now(UTC) - timedelta(seconds=1),
        )
        scheduler.wakeup()
        deadline = time.monotonic() + 20
        while "nightly" not in CALLS and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        jobs.stop()
    assert CALLS == ["nightly"]
    failed = [r.getMessage() for r in caplog.records if r.name == "retention_jobs.scheduler"]
    assert any(
        "job flaky failed: nightly: catalogue unreachable; it runs again at its next trigger" in m
        for m in failed
    ), failed
    nxt = stored_next_runs(served.catalogue.engine)["flaky"]
    assert nxt is not None and nxt > datetime.now(UTC) and (nxt.hour, nxt.minute) == (hour, 0)


def test_ensure_jobs_keeps_a_missed_run_unless_the_trigger_changed(
    backend: Backend, served: Services
) -> None:
    url = served.settings.database.url

    def register(cron: str) -> tuple[list[str], datetime | None]:
        spec = JobSpec(
            "j",
            f"{__name__}:noop_job",
            ("x",),
            cron_trigger(cron, "UTC"),
            CATALOGUE_STORE,
            misfire_grace_s=60,
        )
        jobs = ScheduledJobs([spec], database_url=url, timezone="UTC")
        jobs.scheduler.start(paused=True)  # nothing runs: only the registration is looked at
        try:
            lines = ensure_jobs(jobs.scheduler, [spec])
            return lines, jobs.scheduler.get_job("j").next_run_time
        finally:
            jobs.stop()

    lines, first = register("0 4 * * *")
    assert "added" in lines[0] and first is not None and first > datetime.now(UTC)
    past = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    store = SQLAlchemyJobStore(url=url)
    store.start(BackgroundScheduler(timezone=UTC), CATALOGUE_STORE)
    job = store.lookup_job("j")
    job._modify(next_run_time=past)
    store.update_job(job)
    store.shutdown()
    lines, kept = register("0 4 * * *")
    assert "kept" in lines[0] and kept == past  # the missed run will be caught up once
    lines, moved = register("30 5 * * *")
    assert "rescheduled" in lines[0] and moved is not None and moved > datetime.now(UTC)
    assert (moved.hour, moved.minute) == (5, 30)


def test_schedule_command_shows_next_runs(backend: Backend, served: Services, minute: int) -> None:
    out = backend.cli("retention", "schedule", check=True).stdout
    assert "retention-purge: cron[" in out and f"hour='*', minute='{minute}'" in out
    assert "spool-resume: interval[0:05:00], each serve process" in out
    assert "audit-anchor: interval[1:00:00]" in out  # issue 8: the chain's head, hourly
    rows = json.loads(backend.cli("retention", "schedule", "--json", check=True).stdout)
    purge = next(r for r in rows if r["id"] == "retention-purge")
    times = [datetime.fromisoformat(t) for t in purge["next_runs"]]
    assert len(times) == 3 and all(t.minute == minute for t in times)
    assert times[1] - times[0] == timedelta(hours=1)
    assert purge["stored_next_run"] is None  # serve never ran: nothing registered yet
