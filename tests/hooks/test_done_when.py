"""Issue 12's done-when, through `callvault serve --no-agent` (a real subprocess): ask for a
decision, upload a sox WAV twice under one Idempotency-Key and get one recording, and a local
receiver gets a `recording.stored` webhook whose signature the reference library accepts."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.conftest import CALLVAULT
from tests.hooks.conftest import HookSite, make_config, prepare, upload
from tests.hooks.receiver import receiver
from tests.hooks.test_uploads import wait_state


def test_decision_upload_twice_and_a_signed_webhook(
    request: pytest.FixtureRequest, tmp_path: Path, sox_wav: Path
) -> None:
    config = make_config(
        request, tmp_path, "sqlite-fs", "\n[webhooks]\nallow_private = true\npoll_s = 1\n"
    )
    tokens = prepare(config)
    port = int(config.read_text().split("port = ")[1].split()[0])
    site = HookSite("sqlite-fs", config, f"http://127.0.0.1:{port}", tmp_path / "serve.log", tokens)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}
    with receiver() as rec:
        add = subprocess.run(
            [
                CALLVAULT,
                "--config",
                str(config),
                "webhooks",
                "add",
                rec.url,
                "--events",
                "recording.stored,recording.destroyed",
                "--json",
            ],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        secret = json.loads(add.stdout)["secret"]
        with open(site.log, "wb") as out:
            serve = subprocess.Popen(
                [CALLVAULT, "--config", str(config), "serve", "--no-agent", "--no-workers"],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
                env=env,
            )
        try:
            deadline = time.monotonic() + 90
            while True:
                assert serve.poll() is None, site.log.read_text()
                try:
                    if httpx.get(site.base + "/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, site.log.read_text()
                time.sleep(0.3)
            call_id = f"done-{uuid.uuid4().hex[:8]}"
            with site.client() as c:
                d = c.post(
                    "/hooks/v1/incoming-call",
                    json={"platform_call_id": call_id, "caller": "+441277312500", "dialled": "1"},
                )
                assert d.status_code == 200 and d.json()["record"] is True
                m = {"platform_call_id": call_id, "service": "housing"}
                key = uuid.uuid4().hex
                first = upload(c, m, sox_wav.read_bytes(), key)
                second = upload(c, m, sox_wav.read_bytes(), key)
                assert first.status_code == second.status_code == 202, first.text
                assert first.json() == second.json()
                rid = first.json()["id"]
                assert wait_state(c, first.json()["status_url"], "stored")["state"] == "stored"
            [got] = rec.wait_for(1, timeout=90)
        finally:
            serve.terminate()
            serve.wait(60)
    msg = Webhook(secret).verify(got.body, got.headers)
    assert msg["type"] == "recording.stored"
    assert msg["data"]["recording_id"] == rid
    assert got.headers["webhook-id"].startswith("msg_")
    listed = subprocess.run(
        [CALLVAULT, "--config", str(config), "webhooks", "deliveries", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    [row] = json.loads(listed.stdout)
    assert (row["type"], row["state"], row["last_status"]) == ("recording.stored", "delivered", 200)
