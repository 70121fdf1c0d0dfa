"""SIGKILL mid-run, then a second run finishes; two concurrent runs destroy each recording once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from callvault.wiring import Services
from retention_jobs.purge import PurgeFailed
from storage.catalogue.models import RecordingKey
from tests.conftest import Backend
from tests.retention_jobs.conftest import (
    T0,
    audit_ok,
    count,
    keys_left,
    make_recordings,
    records,
    rows,
    set_policy,
    versions,
)

NOW = (T0 + timedelta(days=91)).isoformat()
ROOT = Path(__file__).resolve().parents[2]


def worker(backend: Backend, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.retention_jobs.purge_worker",
            str(backend.config),
            NOW,
            *args,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_all_destroyed_once(svc: Services, made: list, backend: Backend) -> None:
    ids = [m.id for m in made]
    recs = [r for r in records(svc) if r.kind == "recording"]
    assert Counter(r.recording_id for r in recs) == Counter(ids)  # exactly once each
    assert {r.state for r in rows(svc, ids).values()} == {"destroyed"}
    assert keys_left(svc, ids) == 0
    assert all(versions(svc, m.object_key) == [] for m in made)
    assert all(r.caller_hash is None for r in rows(svc, ids).values())
    assert audit_ok(svc)
    assert backend.cli("audit", "verify").returncode == 0


@pytest.mark.parametrize("step", ["claimed", "objects-destroyed", "finalised"])
def test_sigkill_mid_run_then_the_next_run_finishes(
    backend: Backend, tmp_path: Path, step: str
) -> None:
    set_policy(backend, batch=4, claim_timeout=3600)
    svc = Services.build(backend.settings)
    svc.init()
    try:
        made = make_recordings(svc, 10, tmp=tmp_path)  # batches of 4: 4, 4, 2
        p = worker(backend, "--kill-at", step, "--kill-batch", "2")
        _, err = p.communicate(timeout=120)
        assert p.returncode == -signal.SIGKILL, err
        ids = [m.id for m in made]
        states = Counter(r.state for r in rows(svc, ids).values())
        finished = 8 if step == "finalised" else 4
        assert states["destroyed"] == finished
        assert states["destroying"] == (0 if step == "finalised" else 4)
        if step == "objects-destroyed":  # the window the claim protects: objects gone, key not
            claimed = [r for r in rows(svc, ids).values() if r.state == "destroying"]
            assert all(versions(svc, r.object_key) == [] for r in claimed)
            assert keys_left(svc, [r.id for r in claimed]) == 4

        # Within the claim timeout (1 h here) another run leaves the dead run's claims alone.
        fresh = svc.purger().run(now=T0 + timedelta(days=91), actor="t")
        assert len(fresh.destroyed) == 2 and fresh.claims_lost == 0  # the unclaimed rest
        if step != "finalised":
            assert fresh.in_progress_elsewhere == 4
        time.sleep(1.1)
        # A run with a 1-second claim timeout sees them as abandoned and takes them over.
        out = backend.cli(
            "retention",
            "run",
            "--now",
            NOW,
            "--json",
            check=True,
            env={"CALLVAULT_RETENTION_CLAIM_TIMEOUT_S": "1"},
        )
        second = json.loads(out.stdout)
        resumed = [d for d in second["destroyed"] if d["resumed_from_run"]]
        assert len(resumed) == (0 if step == "finalised" else 4)
        if step == "objects-destroyed":  # already deleted by the dead run
            assert all(d["versions_removed"] == 0 for d in resumed)
        elif step == "claimed":
            assert all(d["versions_removed"] >= 1 for d in resumed)
        assert_all_destroyed_once(svc, made, backend)
    finally:
        svc.close()


def test_failure_in_a_batch_is_reported_and_finished_by_the_next_run(
    backend: Backend, tmp_path: Path
) -> None:
    set_policy(backend, batch=4)  # claim timeout 900 s: only the abandon makes it immediate
    svc = Services.build(backend.settings)
    svc.init()
    try:
        made = make_recordings(svc, 6, tmp=tmp_path)

        def outage(step: str, ids: list[str]) -> None:
            if step == "objects-destroyed":
                raise ConnectionError("object store went away")

        with pytest.raises(
            PurgeFailed,
            match=r"failed after destroying 0 recording.*4 "
            r"recording.s. are mid-destruction",
        ) as info:
            svc.purger(on_step=outage).run(now=T0 + timedelta(days=91), actor="t")
        assert info.value.report.error and "object store went away" in info.value.report.error
        assert count(svc, RecordingKey) == 6  # keys stay until the objects are surely gone
        report = svc.purger().run(now=T0 + timedelta(days=91), actor="t")
        assert len(report.destroyed) == 6
        assert sum(1 for d in report.destroyed if d["resumed_from_run"]) == 4
        assert_all_destroyed_once(svc, made, backend)
    finally:
        svc.close()


def test_two_concurrent_runs_destroy_each_recording_exactly_once(
    backend: Backend, tmp_path: Path
) -> None:
    set_policy(backend, batch=5)
    svc = Services.build(backend.settings)
    svc.init()
    try:
        made = make_recordings(svc, 120, tmp=tmp_path, extra_version=False)
        go = tmp_path / "go"
        procs = [worker(backend, "--pause", "0.05", "--go", str(go)) for _ in range(2)]
        for p in procs:  # both ready (imports done, engine built) before either starts
            assert p.stderr is not None and p.stderr.readline().strip() == "ready"
        go.touch()
        reports = []
        for p in procs:
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0, err
            reports.append(json.loads(out))
        assert all(r["error"] is None and r["claims_lost"] == 0 for r in reports)
        done = [d["recording_id"] for r in reports for d in r["destroyed"]]
        assert sorted(done) == sorted(m.id for m in made)
        if backend.name == "postgres-s3":  # SKIP LOCKED: both really worked at the same time
            assert all(len(r["destroyed"]) > 0 for r in reports)
        assert_all_destroyed_once(svc, made, backend)
    finally:
        svc.close()
