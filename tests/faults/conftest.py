"""Fixtures of the fault tests: an agent on its OWN PostgreSQL and SeaweedFS (they are stopped
and restarted here, never the session-wide servers), with a metrics port, and 50 sipp calls."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ops.conftest import answers, wait_until
from tests.servers import (
    PG_BIN,
    READY_BANNER,
    PostgresServer,
    S3Server,
    _as_postgres,
    start_postgres,
    start_seaweedfs,
)
from tests.telephony.conftest import RunningAgent, free_rtp_base, voices  # noqa: F401
from tests.telephony.sipp import CallerScenario, QueueScenario, Step, free_port, start_sipp

CALLS = 50
CALL_MS = 8000  # each call: the notice (~3 s under load), then seconds bridged and recorded


@dataclass
class FaultRig:
    agent: RunningAgent
    pg: PostgresServer
    s3: S3Server
    metrics: str  # http://127.0.0.1:<port>

    def readyz(self) -> dict[str, object]:
        try:
            r = httpx.get(self.metrics + "/readyz", timeout=5)
        except httpx.HTTPError as exc:
            return {"status": type(exc).__name__}
        return {"status": r.status_code, **r.json()}

    def take_down(self, stop: Callable[[], None], check: str) -> float:
        """Stop a server, wait for /readyz to say so naming `check` (only); when it stopped."""
        stop()
        stopped = time.monotonic()
        wait_until(lambda: self.readyz()["status"] == 503, 30, f"/readyz 503 without {check}")
        checks = self.readyz()["checks"]
        assert isinstance(checks, dict), checks
        assert {k for k, v in checks.items() if v != "ok"} == {check}, checks
        return stopped

    def place_calls(self, wavs: dict[str, Path], n: int = CALLS) -> None:
        """n concurrent calls (sipp UAC, all at once) answered by a sipp queue; sipp must count
        every one answered and completed."""
        a = self.agent
        uas = start_sipp(
            QueueScenario(wavs["staff"]).xml(),
            a.workdir,
            "queue",
            port=a.queue_port,
            calls=n,
            timeout_s=120,
        )
        time.sleep(0.3)
        scenario = CallerScenario(wavs["caller"], [Step(CALL_MS, "bye")])
        uac = start_sipp(
            scenario.xml(),
            a.workdir,
            "caller",
            target=a.target,
            calls=n,
            rate=n,
            timeout_s=120,
            extra=("-trace_stat", "-fd", "1"),
        )
        try:
            _, err = uac.communicate(timeout=180)
        finally:
            try:
                uas.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                uas.kill()
                uas.communicate()
        assert uac.returncode == 0, f"sipp: not every call answered and completed\n{err[-2000:]}"

    def recover(self, what: str, stopped: float, tmp: Path) -> list[dict[str, Any]]:
        """With the server back: /readyz 200, then what `serve`'s scheduled spool resume runs
        ([schedule] resume_interval_s). Prints the recovery time (back -> last recording
        committed); every call's recording stored once, its object there once, decrypting."""
        a, back = self.agent, time.monotonic()
        wait_until(lambda: self.readyz()["status"] == 200, 30, f"/readyz 200 with the {what} back")
        r = a.cli("ingest", "--resume")
        done = time.monotonic()
        print(
            f"{what} outage {back - stopped:.1f} s; {what} back -> last recording committed "
            f"{done - back:.1f} s ({CALLS} recordings)"
        )
        spool = a.workdir / "var/spool"
        left = [*(spool / "calls").iterdir(), *(spool / "jobs").iterdir()]
        assert not left, r.stdout + r.stderr
        assert done - back < 180
        rows: list[dict[str, Any]] = json.loads(a.cli("recordings", "list", "--json").stdout)
        assert len(rows) == CALLS and len({x["id"] for x in rows}) == CALLS
        assert len({x["call_id"] for x in rows}) == CALLS, "one recording per call"
        svc = a.services()
        try:
            for x in rows:
                out = svc.recordings().export(
                    x["id"], tmp / f"{x['id']}.wav", reason="t", actor="t"
                )
                assert out.bytes_written > 8000
        finally:
            svc.close()
        keys = self.s3.client().list_objects_v2(Bucket="faults").get("Contents", [])
        assert len(keys) == CALLS, "one object per recording, none twice"
        return rows


def restart_seaweedfs(s3: S3Server, timeout: float = 60) -> None:
    """Start the stopped `weed mini` again with the same command line (same ports, same data)."""
    start = s3.logfile.stat().st_size  # the banner must come from the new run
    with s3.logfile.open("ab") as out:
        s3.process = subprocess.Popen(
            s3.process.args,
            cwd=s3.logfile.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    client = s3.client()
    while time.monotonic() < deadline:
        try:
            client.list_buckets()
            if READY_BANNER in s3.logfile.read_bytes()[start:]:
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.1)
    raise AssertionError(f"SeaweedFS did not come back within {timeout} s")


def restart_postgres(pg: PostgresServer) -> None:
    """pg_ctl start on the same datadir and port."""
    subprocess.run(
        _as_postgres(
            str(PG_BIN / "pg_ctl"),
            "start",
            "-D",
            str(pg.datadir),
            "-l",
            str(pg.logfile),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {pg.port}",
        ),
        capture_output=True,
        text=True,
        check=True,
    )
    pg.pid = int((pg.datadir / "postmaster.pid").read_text().split()[0])


@pytest.fixture
def rig(tmp_path: Path, voices: dict[str, Path]) -> Iterator[FaultRig]:  # noqa: F811
    pg = start_postgres(tmp_path / "pg")
    s3 = start_seaweedfs(tmp_path / "s3")
    sip_port, queue_port, metrics_port = free_port(), free_port(), free_port()
    work = tmp_path / "node"
    work.mkdir()
    config = work / "callvault.toml"
    config.write_text(f"""
[sip]
port = {sip_port}
transports = ["udp"]
rtp_port = {free_rtp_base(400)}
max_calls = {CALLS + 10}
invite_rate_per_min = 6000
invite_burst = {CALLS * 2}
queue_uri = "sip:queue@127.0.0.1:{queue_port}"
control_port = {free_port()}

[portal]
port = {free_port()}

[database]
url = "{pg.url}"

[store]
backend = "s3"

[s3]
endpoint_url = "{s3.endpoint_url}"
bucket = "faults"
region = "{s3.region}"
access_key_id = "{s3.access_key}"
secret_access_key = "{s3.secret_key}"
path_style = true
create_bucket = true
connect_timeout_s = 2
max_attempts = 1

[metrics]
port = {metrics_port}
refresh_s = 1

[consent]
objection_grace_s = 1

[[consent.notices]]
id = "test-notice"
version = "7"
language = "en-GB"
file = "{voices["notice"]}"
dialled = "*"
service = "waste"
""")
    a = RunningAgent(config, work, None, sip_port, queue_port, work / "agent.log")
    a.cli("init")
    a.start()
    r = FaultRig(a, pg, s3, f"http://127.0.0.1:{metrics_port}")
    deadline = time.monotonic() + 30
    while not answers(r.metrics + "/readyz"):
        assert time.monotonic() < deadline, "agent's /readyz not 200"
        time.sleep(0.2)
    yield r
    a.stop()
    s3.stop()
    pg.stop()
