"""A real sipp call through `callvault agent` moves its metrics, and its JSON log lines name the
call by ID and never hold the caller's number."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import free_tcp_port
from tests.ops.conftest import answers, scrape, value, wait_until
from tests.telephony.conftest import RunningAgent
from tests.telephony.sipp import CallerScenario, QueueScenario, Step

CALLER = "+441277312599"


def test_a_recorded_call_moves_the_agent_metrics_and_its_log_holds_no_number(
    agent: RunningAgent, voices: dict[str, Path]
) -> None:
    agent.stop()
    port = free_tcp_port()
    with open(agent.config, "a") as fh:
        fh.write(f'\n[metrics]\nport = {port}\nrefresh_s = 1\n\n[logging]\nformat = "json"\n')
    agent.log.write_text("")
    agent.start()
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(base + "/readyz"), 30, "agent's /readyz")
    before = scrape(base)
    assert value(before, "callvault_calls_capacity") == 10
    assert value(before, "callvault_calls_active") == 0
    assert value(before, "callvault_recordings_committed_total") == 0

    rc, err = agent.call(
        CallerScenario(voices["caller"], [Step(9000, "bye")], caller=CALLER),
        QueueScenario(voices["staff"]),
    )
    assert rc == 0, err
    agent.wait_idle()
    after = scrape(base)
    assert value(after, "callvault_calls_total", outcome="recorded") == 1
    assert value(after, "callvault_calls_active") == 0
    assert value(after, "callvault_recordings_committed_total") == 1
    assert value(after, "callvault_hangup_to_committed_seconds_count") == 1
    # Committed within seconds of the hang-up (the agent's own clocks; a wide margin).
    assert 0 < (value(after, "callvault_hangup_to_committed_seconds_sum") or 0) < 60
    assert value(after, "callvault_spool_jobs") == 0
    wait_until(  # read from the catalogue on a thread, every refresh_s
        lambda: value(scrape(base), "callvault_compression_backlog", state="queued") == 1,
        30,
        "the recording's compression job in the backlog gauge",
    )

    [rec] = json.loads(agent.cli("recordings", "list", "--json").stdout)
    agent.stop()
    text = agent.log.read_text()
    ours = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert ours and all({"time", "level", "logger", "message"} <= set(d) for d in ours)
    assert any(rec["id"] in d.get("ids", []) for d in ours), "the call's lines carry its ID"
    for digits in (CALLER, CALLER[3:], "0" + CALLER[3:], CALLER[-6:]):
        assert digits not in text, f"{digits} in the agent's log"
