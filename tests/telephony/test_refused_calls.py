"""Calls the agent cannot take (no common codec: 488, beyond capacity: 503); it keeps
serving the others."""

from __future__ import annotations

from pathlib import Path

from tests.telephony.calls import (
    recordings,
    wait_for_live_calls,
)
from tests.telephony.conftest import RunningAgent
from tests.telephony.sipp import CallerScenario, QueueScenario, Step, start_sipp


def test_no_common_codec_gets_488_and_the_agent_keeps_serving(
    agent: RunningAgent, voices: dict[str, Path]
) -> None:
    rc, err = agent.call(CallerScenario(voices["caller"], codecs=((3, "GSM/8000"),), expect="488"))
    assert rc == 0, err
    rc, err = agent.call(
        CallerScenario(voices["caller"], [Step(7000, "bye")]), QueueScenario(voices["staff"])
    )
    assert rc == 0, err
    agent.wait_idle()
    assert len(recordings(agent)) == 1


def test_calls_beyond_capacity_get_503(agent: RunningAgent, voices: dict[str, Path]) -> None:
    agent.stop()
    agent.config.write_text(agent.config.read_text().replace("max_calls = 10", "max_calls = 1"))
    agent.start()
    assert "capacity 1 concurrent bridged calls" in agent.log.read_text()
    uas = start_sipp(
        QueueScenario(voices["staff"]).xml(), agent.workdir, "queue", port=agent.queue_port
    )
    first = start_sipp(
        CallerScenario(voices["caller"], [Step(8000, "bye")]).xml(),
        agent.workdir,
        "first",
        target=agent.target,
    )
    try:
        wait_for_live_calls(agent, 1)
        rc, err = agent.call(CallerScenario(voices["caller"], expect="503"))
        assert rc == 0, err
        assert first.wait(30) == 0
        uas.wait(15)
    finally:
        for p in (first, uas):
            if p.poll() is None:
                p.kill()
            p.communicate()
    agent.wait_idle()
    assert len(recordings(agent)) == 1
