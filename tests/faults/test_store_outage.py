"""SeaweedFS stopped for OUTAGE_S while 50 calls are placed: every call answered (sipp's own
counts) and recorded to the spool, the outage in /readyz and the metrics, and once the store is
back the spool resume stores every recording exactly once, each one decrypting."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.faults.conftest import CALLS, FaultRig, restart_seaweedfs
from tests.ops.conftest import scrape, value, wait_until

OUTAGE_S = 60  # issue 13 item 6: the store stopped for 60 s


def test_store_stopped_60_s_under_50_calls_every_recording_stored_once_after(
    rig: FaultRig, voices: dict[str, Path], tmp_path: Path
) -> None:
    a = rig.agent
    rig.s3.stop()
    stopped = time.monotonic()
    wait_until(lambda: rig.readyz()["status"] == 503, 30, "/readyz 503 with the store down")
    checks = rig.readyz()["checks"]
    assert isinstance(checks, dict) and checks["store"] != "ok" and checks["catalogue"] == "ok"

    rc, err = rig.place_calls(voices)
    assert rc == 0, f"sipp: not every call answered and completed\n{err[-2000:]}"
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
    back = time.monotonic()
    wait_until(lambda: rig.readyz()["status"] == 200, 30, "/readyz 200 with the store back")
    # What `serve`'s scheduled spool resume runs ([schedule] resume_interval_s).
    r = a.cli("ingest", "--resume")
    done = time.monotonic()
    print(
        f"store outage {back - stopped:.1f} s; store back -> last recording committed "
        f"{done - back:.1f} s ({CALLS} recordings)"
    )
    assert not any(jobs_dir.iterdir()), r.stdout + r.stderr
    assert done - back < 180

    rows = json.loads(a.cli("recordings", "list", "--json").stdout)
    assert len(rows) == CALLS and len({x["id"] for x in rows}) == CALLS
    svc = a.services()
    try:
        for x in rows:
            out = svc.recordings().export(
                x["id"], tmp_path / f"{x['id']}.wav", reason="t", actor="t"
            )
            assert out.bytes_written > 8000
    finally:
        svc.close()
    client = rig.s3.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="faults").get("Contents", [])]
    assert len(keys) == CALLS, "one object per recording, none twice"
    wait_until(
        lambda: value(scrape(rig.metrics), "callvault_spool_jobs") == 0, 30, "spool gauge at 0"
    )
    assert value(scrape(rig.metrics), "callvault_ready", check="store") == 1
