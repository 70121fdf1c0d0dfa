"""The SIP agent's objected call reaches a webhook receiver as `consent.objected`: a sipp caller
presses the objection digit during the notice, `callvault serve` (agent + webhook worker)
stores the consent-only record and its outbox event in one transaction, and the receiver's
message verifies with the standardwebhooks reference library."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from standardwebhooks.webhooks import Webhook

from tests.conftest import CALLVAULT
from tests.hooks.receiver import receiver
from tests.pipes import communicate, lines_until
from tests.telephony.conftest import RunningAgent, agent, voices  # noqa: F401 - fixtures
from tests.telephony.sipp import CallerScenario, QueueScenario, Step


def serve(a: RunningAgent) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [CALLVAULT, "--config", str(a.config), "serve", "--no-workers"],
        cwd=a.workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    a.process = proc  # the fixture stops it
    lines_until(proc.stdout, "call it: sip:100@", 30, "serve")  # a deadline even if silent
    return proc


def test_an_objection_digit_sends_consent_objected(
    agent: RunningAgent,  # noqa: F811 - the fixture
    voices: dict[str, Path],  # noqa: F811 - the fixture
) -> None:
    agent.stop()
    with agent.config.open("a") as f:
        f.write("\n[webhooks]\nallow_private = true\npoll_s = 1\n")
    with receiver() as rec:
        added = agent.cli("webhooks", "add", rec.url, "--events", "consent.objected", "--json")
        secret = json.loads(added.stdout)["secret"]
        proc = serve(agent)
        rc, err = agent.call(
            CallerScenario(voices["caller"], [Step(1500, "dtmf", "9"), Step(8000, "bye")]),
            QueueScenario(voices["staff"]),
        )
        assert rc == 0, err
        agent.wait_idle()
        [got] = rec.wait_for(1, timeout=60)
        proc.send_signal(signal.SIGTERM)
        out, _ = communicate(proc, timeout=60)
        agent.process = None
        assert proc.returncode == 0, out
    msg = Webhook(secret).verify(got.body, got.headers)
    assert msg["type"] == "consent.objected"
    svc = agent.services()
    try:
        with svc.catalogue.engine.connect() as conn:
            [(rid, doc)] = conn.exec_driver_sql("SELECT id, document FROM consent_records")
    finally:
        svc.close()
    assert json.loads(doc)["outcome"] == "objected"
    assert msg["data"]["consent_record_id"] == rid
    assert set(msg["data"]) <= {"consent_record_id", "links"}  # ids only: no number, no hash
    assert "1277" not in got.body.decode() and "sip:" not in got.body.decode()
