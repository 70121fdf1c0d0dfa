"""Recorded calls against real sipp peers sending real RTP (speech made with espeak-ng):
each side on its own channel, and either side may end the call."""

from __future__ import annotations

import json
from pathlib import Path

from tests.telephony.calls import (
    RATE,
    best_corr,
    export,
    read_wav,
    recordings,
)
from tests.telephony.conftest import RunningAgent
from tests.telephony.sipp import CallerScenario, QueueScenario, Step


def test_normal_call_records_each_side_on_its_own_channel(
    agent: RunningAgent, voices: dict[str, Path]
) -> None:
    rc, err = agent.call(
        CallerScenario(voices["caller"], [Step(11000, "bye")], case_id="WASTE-77"),
        QueueScenario(voices["staff"]),
    )
    assert rc == 0, err
    agent.wait_idle()
    [rec] = recordings(agent)
    consent = rec["consent"]
    assert rec["channels"] == 2 and rec["case_ids"] == ["WASTE-77"] and rec["complete"]
    assert consent["outcome"] == "recorded" and consent["recorded"] is True
    assert consent["notice"] == {"id": "test-notice", "version": "7", "language": "en-GB"}
    assert consent["notice_completed"] and consent["objection"] is None
    assert consent["lawful_basis"] and consent["purposes"] and consent["paused_intervals"] == []
    assert consent["notice_seconds_played"] == consent["notice_duration_s"]
    from datetime import datetime

    bridged = (
        datetime.fromisoformat(consent["ended_at"]) - datetime.fromisoformat(consent["bridged_at"])
    ).total_seconds()
    assert bridged > 4
    assert abs(rec["duration_s"] - bridged) / bridged < 0.05
    # Committed at hang-up in its cheap form; a worker compresses it, and the channel checks
    # below run on the compressed version.
    assert rec["format"] == "wav"
    worker = json.loads(agent.cli("worker", "--once", "--json").stdout)
    assert [j["state"] for j in worker["jobs"]] in (["compressed"], ["old-pending"])
    compressed = json.loads(agent.cli("recordings", "show", rec["id"], "--json").stdout)
    assert compressed["format"] == "opus" and compressed["stored_bytes"] * 8 < rec["stored_bytes"]
    audio = export(agent, rec["id"])
    assert abs(len(audio) / RATE - bridged) / bridged < 0.05
    caller_src, staff_src = (
        read_wav(voices["caller_pcm"])[:, 0],
        read_wav(voices["staff_pcm"])[:, 0],
    )
    left, right = audio[:, 0], audio[:, 1]
    assert best_corr(left, caller_src) > 0.75, "caller's speech on the left channel"
    assert best_corr(right, staff_src) > 0.75, "staff's speech on the right channel"
    assert best_corr(left, staff_src) < best_corr(left, caller_src) - 0.2
    assert best_corr(right, caller_src) < best_corr(right, staff_src) - 0.2


def test_staff_hanging_up_ends_the_caller_leg_too(
    agent: RunningAgent, voices: dict[str, Path]
) -> None:
    rc, err = agent.call(
        CallerScenario(voices["caller"], hung_up_by_agent=True),
        QueueScenario(voices["staff"], hangup_after_ms=4000),
    )
    assert rc == 0, err
    agent.wait_idle()
    [rec] = recordings(agent)
    assert rec["consent"]["ended_by"] == "staff" and rec["consent"]["outcome"] == "recorded"
    assert 3.5 < rec["duration_s"] < 5
