"""Two `callvault serve` nodes on one PostgreSQL and one SeaweedFS: the retention purge runs
once per trigger across them, and when the node that ran it is SIGKILLed the other takes the
next trigger. The purge fires every 2 s here (a 6-field cron with seconds)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from callvault.wiring import Services
from retention_jobs.run_once import RunOnce, latest_fire_time
from retention_jobs.triggers import cron_trigger
from storage.catalogue.models import AuditEvent, JobRun
from tests.conftest import CALLVAULT, Backend, free_tcp_port
from tests.ops.conftest import answers, scrape, value, wait_until
from tests.retention_jobs.conftest import make_recordings, records, set_policy

pytestmark = pytest.mark.postgres_s3
PURGE = "retention-purge"
SERVE = ("serve", "--no-agent", "--no-portal", "--no-workers")


def runs(svc: Services) -> list[JobRun]:
    with svc.catalogue.session() as s:
        return list(s.scalars(select(JobRun).where(JobRun.job == PURGE).order_by(JobRun.slot)))


def purge_events(svc: Services) -> int:
    with svc.catalogue.session() as s:
        q = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "retention.run")
        return int(s.scalar(q) or 0)


def wait_healthy(ports: list[int]) -> None:
    for port in ports:
        url = f"http://127.0.0.1:{port}/healthz"
        wait_until(lambda u=url: answers(u), 90, url)


Nodes = tuple[Services, list[subprocess.Popen[bytes]], list[int]]


@pytest.fixture
def nodes(backend: Backend, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Nodes]:
    """Two serve nodes; request.param may set the purge's batch, claim timeout and how many
    expired recordings exist before they start."""
    opts = getattr(request, "param", {})
    set_policy(backend, batch=opts.get("batch", 7), claim_timeout=opts.get("claim_timeout", 900))
    backend.config.write_text(
        backend.config.read_text()
        + '\n[schedule]\npurge_cron = "*/2 * * * * *"\npurge_misfire_grace_s = 2\n'
    )
    backend.settings = backend.reload()
    backend.cli("init", check=True)
    svc = Services.build(backend.settings)
    if opts.get("recordings"):
        make_recordings(svc, opts["recordings"], tmp=tmp_path, extra_version=False)
    procs: list[subprocess.Popen[bytes]] = []
    ports = [free_tcp_port(), free_tcp_port()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}
    try:
        for i, port in enumerate(ports):
            log = open(tmp_path / f"node{i}.log", "wb")  # noqa: SIM115 - the child's
            procs.append(
                subprocess.Popen(
                    [CALLVAULT, "--config", str(backend.config), *SERVE],
                    cwd=backend.config.parent,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # Each node its own spool and metrics port; one catalogue and store.
                    env=env
                    | {
                        "CALLVAULT_METRICS_PORT": str(port),
                        "CALLVAULT_SPOOL_DIR": str(tmp_path / f"spool{i}"),
                    },
                )
            )
            log.close()
        yield svc, procs, ports
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        svc.close()


@pytest.mark.parametrize("backend", ["postgres-s3"], indirect=True)
def test_two_nodes_purge_once_per_trigger_and_the_survivor_takes_over(
    nodes: Nodes, tmp_path: Path
) -> None:
    svc, procs, ports = nodes
    wait_healthy(ports)
    made = make_recordings(svc, 3, tmp=tmp_path)  # expired long ago: the next trigger purges
    wait_until(lambda: len(runs(svc)) >= 4, 30, "four purge triggers")

    done = runs(svc)
    assert len({r.slot for r in done}) == len(done)  # one row per trigger (its primary key)
    # Exactly one purge run recorded per trigger: every run the nodes made was a claimed one
    # (read between two looks at job_runs, as a run may be finishing meanwhile).
    ok = sum(r.result == "ok" for r in done)
    events = purge_events(svc)
    assert ok <= events <= len(runs(svc)), (ok, events, [(r.slot, r.node) for r in done])
    assert sorted(d.recording_id for d in records(svc)) == sorted(m.id for m in made)
    skipped = [
        value(
            scrape(f"http://127.0.0.1:{p}"), "callvault_job_runs_total", job=PURGE, result="skipped"
        )
        for p in ports
    ]
    # Both nodes fire each trigger (same cron, same second): the test saw them contend.
    assert sum(s or 0 for s in skipped) > 0, skipped

    # The node that ran the last trigger is SIGKILLed: the other runs the following ones.
    pids = {p.pid: p for p in procs}
    holder = int(runs(svc)[-1].node.rsplit(":", 1)[1])
    assert holder in pids
    pids[holder].send_signal(signal.SIGKILL)
    pids[holder].wait(10)
    killed_at = datetime.now(UTC)
    [survivor] = [pid for pid in pids if pid != holder]
    wait_until(
        lambda: any(r.slot > killed_at and r.node.endswith(f":{survivor}") for r in runs(svc)),
        15,
        f"a purge by the survivor after the kill (skipped before: {skipped})",
    )
    after = [r for r in runs(svc) if r.slot > killed_at]
    assert all(r.node.endswith(f":{survivor}") for r in after)


@pytest.mark.parametrize("backend", ["postgres-s3"], indirect=True)
@pytest.mark.parametrize(
    "nodes", [{"batch": 1, "claim_timeout": 2, "recordings": 40}], indirect=True
)
def test_a_node_killed_mid_purge_leaves_the_rest_to_the_other(nodes: Nodes) -> None:
    """40 expired recordings destroyed one per batch; the node running the purge is SIGKILLed
    part-way: the other node's next triggers destroy the rest, each recording once."""
    svc, procs, ports = nodes
    wait_healthy(ports)
    pids = {p.pid: p for p in procs}
    holder = None
    deadline = datetime.now(UTC) + timedelta(seconds=60)
    while holder is None and datetime.now(UTC) < deadline:
        running = [r for r in runs(svc) if r.finished_at is None]
        if running and 0 < len(records(svc)) < 40:
            holder = int(running[0].node.rsplit(":", 1)[1])
        time.sleep(0.05)
    assert holder in pids, f"no purge caught mid-run: {[(r.node, r.result) for r in runs(svc)]}"
    pids[holder].send_signal(signal.SIGKILL)
    pids[holder].wait(10)
    left_at_kill = 40 - len(records(svc))
    assert left_at_kill > 0
    wait_until(lambda: len(records(svc)) >= 40, 60, "the survivor destroys the rest")
    ids = [d.recording_id for d in records(svc)]
    assert len(ids) == len(set(ids)) == 40  # each destroyed once, none twice
    [survivor] = [pid for pid in pids if pid != holder]
    killed = [r for r in runs(svc) if r.node.endswith(f":{holder}")]
    # Its run never finished (the kill landed mid-run): the other node took the rest.
    assert killed[-1].finished_at is None, f"the run ended before the kill: {left_at_kill} left"
    wait_until(  # the survivor's run that destroyed the last ones ends as it should
        lambda: any(r.node.endswith(f":{survivor}") and r.result == "ok" for r in runs(svc)),
        30,
        "a finished purge on the survivor",
    )


def test_a_held_lock_or_a_claimed_slot_skips(backend: Backend, tmp_path: Path) -> None:
    """The two guards on their own, on either backend (SQLite: a file lock)."""
    backend.cli("init", check=True)
    svc = Services.build(backend.settings)
    try:
        a = RunOnce(svc.catalogue.engine, node="a:1", lock_dir=tmp_path / "locks")
        b = RunOnce(svc.catalogue.engine, node="b:2", lock_dir=tmp_path / "locks")
        slot = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
        with a("job-x", slot) as mine_a, b("job-x", slot + timedelta(days=1)) as mine_b:
            assert mine_a and not mine_b  # a runs it: b cannot take the lock meanwhile
        with b("job-x", slot) as again:
            assert not again  # a ran that trigger already
        with b("job-x", slot + timedelta(days=1)) as next_one:
            assert next_one
        with pytest.raises(RuntimeError), a("job-x", slot + timedelta(days=2)) as mine:
            assert mine
            raise RuntimeError("purge failed")
        with svc.catalogue.session() as s:
            rows = {r.slot: (r.node, r.result) for r in s.scalars(select(JobRun))}
        assert rows == {
            slot: ("a:1", "ok"),
            slot + timedelta(days=1): ("b:2", "ok"),
            slot + timedelta(days=2): ("a:1", "failed"),
        }
    finally:
        svc.close()


def test_the_slot_is_the_trigger_time_just_passed() -> None:
    daily = cron_trigger("0 2 * * *", "Europe/London")
    now = datetime(2026, 7, 1, 1, 0, 3, tzinfo=UTC)  # 02:00:03 in London (BST)
    assert latest_fire_time(daily, now, timedelta(hours=1)) == datetime(
        2026, 7, 1, 1, 0, tzinfo=UTC
    )
    assert latest_fire_time(daily, now - timedelta(seconds=5), timedelta(hours=1)) is None
