"""Calls that store no audio, only their consent record: an objection, a hang-up during
the notice, a caller on the do-not-record list, a queue that refuses the call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.telephony.calls import (
    assert_nothing_stored,
    consent_records,
)
from tests.telephony.conftest import RunningAgent
from tests.telephony.sipp import CallerScenario, QueueScenario, Step


@pytest.mark.parametrize("method", ["rfc4733", "sip-info"])
def test_objection_digit_means_no_audio(
    agent: RunningAgent, voices: dict[str, Path], method: str
) -> None:
    kind = "dtmf" if method == "rfc4733" else "info"
    rc, err = agent.call(
        CallerScenario(voices["caller"], [Step(1500, kind, "9"), Step(8000, "bye")]),
        QueueScenario(voices["staff"]),
    )
    assert rc == 0, err
    agent.wait_idle()
    assert_nothing_stored(agent)
    [consent] = consent_records(agent)
    assert consent["outcome"] == "objected" and consent["recorded"] is False
    assert consent["objection"]["method"] == method
    assert 1.0 < consent["objection"]["seconds_into_notice"] < 3.0
    assert consent["bridged_at"] is not None  # the call still went through, unrecorded


def test_hang_up_during_notice_is_abandoned(agent: RunningAgent, voices: dict[str, Path]) -> None:
    rc, err = agent.call(CallerScenario(voices["caller"], [Step(1500, "bye")]))
    assert rc == 0, err
    agent.wait_idle()
    assert_nothing_stored(agent)
    [consent] = consent_records(agent)
    assert consent["outcome"] == "abandoned during notice"
    assert not consent["notice_completed"]
    assert 1.0 <= consent["notice_seconds_played"] <= 2.5


def test_caller_on_the_do_not_record_list(agent: RunningAgent, voices: dict[str, Path]) -> None:
    agent.stop()
    agent.cli("objections", "add", "+44 1277 312500", "--reason", "asked by phone, ref 12")
    agent.start()  # loads the list at start (a running agent reloads it every 5 s)
    rc, err = agent.call(
        CallerScenario(voices["caller"], [Step(8000, "bye")]), QueueScenario(voices["staff"])
    )
    assert rc == 0, err
    agent.wait_idle()
    assert_nothing_stored(agent)
    [consent] = consent_records(agent)
    assert consent["outcome"] == "do-not-record" and consent["do_not_record"] is True
    listed = json.loads(agent.cli("objections", "list", "--json").stdout)
    assert len(listed) == 1 and "1277" not in json.dumps(listed)  # only the keyed hash


def test_queue_refusal_plays_apology_and_stores_nothing_half(
    agent: RunningAgent, voices: dict[str, Path]
) -> None:
    rc, err = agent.call(
        CallerScenario(voices["caller"], hung_up_by_agent=True),
        QueueScenario(voices["staff"], refuse_with=486),
    )
    assert rc == 0, err
    agent.wait_idle()
    assert_nothing_stored(agent)
    [consent] = consent_records(agent)
    assert consent["outcome"] == "queue-failed" and consent["queue_status"] == 486
    assert consent["ended_by"] == "caller" and consent["recorded"] is False
