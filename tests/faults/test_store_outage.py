"""SeaweedFS stopped for OUTAGE_S while 50 calls are placed: every call answered (sipp's own
counts) and recorded to the spool, the outage in /readyz and the metrics, and once the store is
back the spool resume stores every recording exactly once, each one decrypting."""

from __future__ import annotations

import time
from pathlib import Path

from tests.faults.conftest import CALLS, FaultRig, restart_seaweedfs
from tests.ops.conftest import scrape, value, wait_until

OUTAGE_S = 60  # issue 13 item 6: the store stopped for 60 s


def test_store_stopped_60_s_under_50_calls_every_recording_stored_once_after(
    rig: FaultRig, voices: dict[str, Path], tmp_path: Path
) -> None:
    a = rig.agent
    stopped = rig.take_down(rig.s3.stop, "store")

    rig.place_calls(voices)
    calls_dir, jobs_dir = a.workdir / "var/spool/calls", a.workdir / "var/spool/jobs"
    wait_until(lambda: not any(calls_dir.iterdir()), 60, "every call handed over")
    assert len(list(jobs_dir.iterdir())) == CALLS, "every recording waits in the spool"
    wait_until(
        lambda: value(scrape(rig.metrics), "callvault_spool_jobs") == CALLS, 30, "spool gauge"
    )
    during = scrape(rig.metrics)
    assert value(during, "callvault_calls_total", outcome="recorded") == CALLS
    assert (value(during, "callvault_ingest_failures_total", result="deferred") or 0) >= CALLS
    assert value(during, "callvault_recordings_committed_total") == 0
    assert value(during, "callvault_ready", check="store") == 0
    assert rig.readyz()["status"] == 503

    time.sleep(max(0.0, stopped + OUTAGE_S - time.monotonic()))
    restart_seaweedfs(rig.s3)
    rig.recover("store", stopped, tmp_path)
    wait_until(
        lambda: value(scrape(rig.metrics), "callvault_spool_jobs") == 0, 30, "spool gauge at 0"
    )
    assert value(scrape(rig.metrics), "callvault_ready", check="store") == 1
