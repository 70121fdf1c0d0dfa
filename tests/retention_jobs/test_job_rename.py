"""Jobs stored by name in the catalogue keep working after their function moved
(callvault.cli_retention -> callvault.jobs): serve rewrites the stored reference first."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import create_engine, select, update

from callvault.jobs import RENAMED
from retention_jobs.scheduler import rename_stored_jobs
from retention_jobs.triggers import cron_trigger
from storage.catalogue.models import apscheduler_jobs


def old_job_table(path: Path) -> str:
    """A job table as a node before the move left it: the purge under its old reference."""
    url = f"sqlite:///{path}"
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_jobstore(SQLAlchemyJobStore(url=url), "catalogue")
    scheduler.start(paused=True)
    scheduler.add_job(
        "callvault.jobs:scheduled_purge",
        trigger=cron_trigger("0 2 * * *", "UTC"),
        id="retention-purge",
        jobstore="catalogue",
        args=(None,),
        next_run_time=datetime(2099, 12, 1, 2, 0, tzinfo=UTC),
    )
    scheduler.shutdown(wait=True)
    engine = create_engine(url)
    with engine.begin() as conn:
        blob = conn.execute(select(apscheduler_jobs.c.job_state)).scalar_one()
        state = pickle.loads(blob)
        state["func"] = "callvault.cli_retention:scheduled_purge"
        conn.execute(update(apscheduler_jobs).values(job_state=pickle.dumps(state)))
    engine.dispose()
    return url


def stored_func(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            blob = conn.execute(select(apscheduler_jobs.c.job_state)).scalar_one()
    finally:
        engine.dispose()
    return str(pickle.loads(blob)["func"])


def test_stored_job_is_pointed_at_the_moved_function(tmp_path: Path) -> None:
    url = old_job_table(tmp_path / "jobs.db")
    assert stored_func(url) == "callvault.cli_retention:scheduled_purge"
    engine = create_engine(url)
    try:
        lines = rename_stored_jobs(engine, RENAMED)
        assert lines == [
            "retention-purge: stored job moved from callvault.cli_retention:scheduled_purge "
            "to callvault.jobs:scheduled_purge"
        ]
        assert rename_stored_jobs(engine, RENAMED) == []  # idempotent
    finally:
        engine.dispose()
    assert stored_func(url) == "callvault.jobs:scheduled_purge"
    store = SQLAlchemyJobStore(url=url)
    store.start(BackgroundScheduler(timezone=UTC), "catalogue")
    try:
        job = store.lookup_job("retention-purge")  # restorable: its function imports
        assert job is not None
        assert job.next_run_time == datetime(2099, 12, 1, 2, 0, tzinfo=UTC)  # kept
    finally:
        store.shutdown()
