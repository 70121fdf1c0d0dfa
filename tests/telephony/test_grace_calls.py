"""The queue is dialled as the notice ends; the objection digit still counts in the grace.

Measured from the agent's own timestamps (its log, the consent record), never from sleeps.
The fixture's grace is 2 s: an agent that waited for the grace would ring the queue 2 s late.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from consent.notices import wav_duration
from tests.telephony.calls import assert_nothing_stored, consent_records, recordings
from tests.telephony.conftest import RunningAgent
from tests.telephony.sipp import CallerScenario, QueueScenario, Step

RINGING = re.compile(r"call (\S+): queue ringing ([+-]\d+\.\d+) s after the notice ended")


def test_the_queue_rings_as_the_notice_ends(agent: RunningAgent, voices: dict[str, Path]) -> None:
    notice_s = wav_duration(voices["notice"])
    rc, err = agent.call(
        CallerScenario(voices["caller"], [Step(int(notice_s * 1000) + 4000, "bye")]),
        QueueScenario(voices["staff"], ring_ms=300),
    )
    assert rc == 0, err
    agent.wait_idle()
    [(flow_id, delay)] = RINGING.findall(agent.log.read_text())
    assert 0.0 <= float(delay) < 1.0, f"staff rang {delay} s after the notice ended"
    [rec] = recordings(agent)
    assert rec["id"] == flow_id and rec["consent"]["outcome"] == "recorded"


def test_objection_in_the_grace_discards_what_was_recorded(
    agent: RunningAgent, voices: dict[str, Path]
) -> None:
    notice_s = wav_duration(voices["notice"])
    press = int((notice_s + 1.0) * 1000)  # 1 s into the 2 s grace; the queue answers at once
    rc, err = agent.call(
        CallerScenario(voices["caller"], [Step(press, "info", "9"), Step(press + 2500, "bye")]),
        QueueScenario(voices["staff"]),
    )
    assert rc == 0, err
    agent.wait_idle()
    log = agent.log.read_text()
    assert "bridged to the queue (recording)" in log  # it was recording when the 9 came
    assert "caller objected during the grace; recording discarded" in log
    assert_nothing_stored(agent)
    [consent] = consent_records(agent)
    assert consent["outcome"] == "objected" and consent["recorded"] is False
    assert consent["notice_completed"] is True
    objected = datetime.fromisoformat(consent["objection"]["at"])
    assert datetime.fromisoformat(consent["bridged_at"]) < objected
    assert notice_s < consent["objection"]["seconds_into_notice"] <= notice_s + 2.0
