"""Prometheus metrics, /healthz and /readyz of a real `callvault serve` (PostgreSQL and a
SeaweedFS of this test's own, so it can be stopped), scraped over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import CALLVAULT, _s3_toml, free_tcp_port
from tests.ops.conftest import answers, scrape, value, wait_until
from tests.servers import PostgresServer, S3Server, start_seaweedfs

pytestmark = pytest.mark.postgres_s3


def run(config: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [CALLVAULT, "--config", str(config), *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        cwd=config.parent,
        env={k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")},
        check=False,
    )
    assert r.returncode == 0, f"callvault {' '.join(args)}: {r.stderr}"
    return r


@pytest.fixture
def own_s3(tmp_path: Path) -> Iterator[S3Server]:
    server = start_seaweedfs(tmp_path / "weed")
    yield server
    server.stop()


def readyz(base: str) -> tuple[int, dict[str, str]]:
    r = httpx.get(base + "/readyz", timeout=30)
    return r.status_code, r.json()["checks"]


def test_serve_metrics_move_after_an_ingest_and_readyz_names_what_failed(
    tmp_path: Path, pg_server: PostgresServer, own_s3: S3Server, speech_call: Path
) -> None:
    name = "t" + uuid.uuid4().hex[:12]
    metrics_port, portal_port = free_tcp_port(), free_tcp_port()
    config = tmp_path / "callvault.toml"
    config.write_text(
        f'[database]\nurl = "{pg_server.create_database(name)}"\n\n'
        + _s3_toml(own_s3, name)
        + f"\n[portal]\nport = {portal_port}\n"
        + f"\n[metrics]\nport = {metrics_port}\nrefresh_s = 1\n"
        + '\n[logging]\nformat = "json"\n'
    )
    run(config, "init")
    log = tmp_path / "serve.log"
    with open(log, "w") as fh:
        serve = subprocess.Popen(
            [CALLVAULT, "--config", str(config), "serve", "--no-agent", "--no-workers"],
            cwd=tmp_path,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")},
        )
    base = f"http://127.0.0.1:{metrics_port}"

    def gauge(name: str, **labels: str) -> float | None:
        return value(scrape(base), name, **labels)

    try:
        wait_until(lambda: answers(base + "/healthz"), 60, f"serve's /healthz\n{log.read_text()}")
        assert readyz(base) == (200, dict.fromkeys(("catalogue", "store", "keys", "spool"), "ok"))
        wait_until(lambda: gauge("callvault_ready", check="store") == 1, 30, "readiness read")
        assert gauge("callvault_compression_backlog", state="queued") == 0
        wait_until(
            lambda: value(scrape(base), "callvault_audit_chain_ok") == 1, 30, "audit chain watched"
        )

        # A real ingest (another process): committed as WAV, a compression job queued.
        run(config, "ingest", str(speech_call), "--call-id", "ops-1", "--service", "waste")
        # The gauges read the catalogue on a thread (every refresh_s): they follow within it.
        wait_until(
            lambda: gauge("callvault_compression_backlog", state="queued") == 1, 30, "job queued"
        )
        assert gauge("callvault_webhook_backlog") is not None

        # A worker on its own metrics port compresses it; serve's backlog gauge follows.
        wport = free_tcp_port()
        worker = subprocess.Popen(
            [CALLVAULT, "--config", str(config), "worker", "--metrics-port", str(wport)],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")},
        )
        wbase = f"http://127.0.0.1:{wport}"
        try:
            wait_until(lambda: answers(wbase + "/readyz"), 60, "the worker's /readyz")
            wait_until(
                lambda: gauge("callvault_compression_backlog", state="queued") == 0,
                60,
                "the job compressed",
            )
            done = scrape(wbase)
            # "old-pending": compressed, the WAV kept a while for streams still reading it.
            moved = {k[1]: v for k, v in done.items() if k[0] == "callvault_compressions_total"}
            assert moved in (
                {(("result", "compressed"),): 1.0},
                {(("result", "old-pending"),): 1.0},
            ), moved
        finally:
            worker.terminate()
            worker.wait(60)

        # The portal's own /metrics: an auditor's bearer token, nobody else's.
        run(config, "users", "add", "ops", "--role", "auditor", "--password-stdin", stdin="o" * 20)
        token = json.loads(run(config, "users", "token", "ops", "--json").stdout)["token"]
        portal = f"http://127.0.0.1:{portal_port}/metrics"
        r = httpx.get(portal, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 200 and "callvault_compression_backlog" in r.text
        assert httpx.get(portal, headers={"Authorization": "Bearer nope"}).status_code == 401

        # The spool's filesystem read-only (a tmpfs mounted over it): /readyz says "spool".
        spool = tmp_path / "var/spool"
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(spool)],
            capture_output=True,
            text=True,
            check=False,
        )
        if mounted.returncode == 0:
            try:
                status, checks = readyz(base)
                assert status == 503 and checks["spool"] != "ok", checks
                assert checks["store"] == checks["catalogue"] == "ok"
                wait_until(lambda: gauge("callvault_ready", check="spool") == 0, 30, "spool gauge")
            finally:
                subprocess.run(["umount", str(spool)], check=True)
        assert readyz(base)[0] == 200

        # The object store stopped: /readyz 503 naming the store, and the gauge shows it.
        own_s3.stop()
        status, checks = readyz(base)
        assert status == 503 and checks["store"] != "ok", checks
        assert checks["catalogue"] == checks["spool"] == checks["keys"] == "ok"
        wait_until(lambda: gauge("callvault_ready", check="store") == 0, 30, "store gauge")
        assert answers(base + "/healthz"), "alive although not ready"
    finally:
        serve.terminate()
        serve.wait(60)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any("metrics, /healthz and /readyz" in line["message"] for line in lines)
    if mounted.returncode != 0:
        pytest.skip(f"spool check not run: cannot mount a tmpfs here ({mounted.stderr.strip()})")
