"""The call state machine, without pjsua2: transitions, objection window, pause codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consent.notices import Notice
from telephony.errors import InvalidStateError
from telephony.flow import Action, CallFlow, FlowPolicy, State

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
NOTICE = Notice("cs", "3", "en-GB", Path("n.wav"), 10.0, "customer-service")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def flow(**kw: object) -> CallFlow:
    f = CallFlow(call_id="c1", notice=NOTICE, policy=FlowPolicy(), started_at=T0, **kw)  # type: ignore[arg-type]
    f.answered(at(0))
    return f


def test_the_whole_recorded_call() -> None:
    f = flow()
    assert f.tick(at(12.9)) is Action.NONE  # notice 10 s + 3 s grace
    assert f.tick(at(13)) is Action.CONNECT_QUEUE and f.state is State.CONNECTING
    assert f.queue_answered(at(14)) is Action.START_RECORDING
    assert f.staff_digit("*", at(20)) is Action.NONE
    assert f.staff_digit("7", at(20.5)) is Action.MUTE_RECORDERS and f.state is State.PAUSED
    assert f.staff_digit("*", at(40)) is Action.NONE
    assert f.staff_digit("8", at(40.2)) is Action.UNMUTE_RECORDERS
    assert f.hangup("caller", at(60)) is Action.STOP_RECORDING
    rec = f.consent_record()
    assert rec["outcome"] == "recorded" and rec["recorded"] is True
    assert rec["notice_completed"] and rec["notice_seconds_played"] == 10.0
    assert rec["paused_intervals"] == [
        {
            "start": at(20.5).isoformat(),
            "end": at(40.2).isoformat(),
            "source": "staff-dtmf",
            "offset_s": 6.5,
            "end_offset_s": 26.2,
        }
    ]
    assert f.hangup("staff", at(60.1)) is Action.NONE  # the second BYE changes nothing


@pytest.mark.parametrize(("when", "counts"), [(4, True), (12.5, True), (13.5, False)])
def test_objection_window_is_the_notice_plus_grace(when: float, counts: bool) -> None:
    f = flow()
    if when > 13:
        f.tick(at(13))
        f.queue_answered(at(13.2))
    f.caller_digit("9", "rfc4733", at(when))
    assert (f.objection is not None) is counts
    if counts:
        assert f.objection is not None and f.objection["seconds_into_notice"] == when
        f.tick(at(13))
        assert f.queue_answered(at(14)) is Action.BRIDGE_ONLY  # connected, never recorded
        f.hangup("caller", at(30))
        assert f.consent_record()["outcome"] == "objected"
        assert f.consent_record()["recorded"] is False


def test_other_digits_do_not_object() -> None:
    f = flow()
    f.caller_digit("5", "sip-info", at(3))
    assert f.objection is None


def test_hang_up_during_the_notice() -> None:
    f = flow()
    assert f.hangup("caller", at(4.25)) is Action.HANGUP_ALL
    rec = f.consent_record()
    assert rec["outcome"] == "abandoned during notice"
    assert rec["notice_seconds_played"] == 4.25 and not rec["notice_completed"]


def test_queue_failure_plays_the_apology() -> None:
    f = flow()
    f.tick(at(13))
    assert f.queue_failed(486, at(14)) is Action.PLAY_APOLOGY
    with pytest.raises(InvalidStateError, match="cannot pause in state apology"):
        f.pause(at(15), "control")
    f.hangup("caller", at(20))
    assert f.consent_record()["outcome"] == "queue-failed"


def test_invalid_transitions_name_the_state() -> None:
    f = flow()
    with pytest.raises(
        InvalidStateError,
        match=r"cannot go to bridged in state notice "
        r"\(allowed: connecting, ended\)",
    ):
        f.queue_answered(at(1))
    with pytest.raises(InvalidStateError, match="cannot resume in state notice"):
        f.resume(at(1), "control")


def test_pause_twice_is_harmless_and_codes_time_out() -> None:
    f = flow()
    f.tick(at(13))
    f.queue_answered(at(13))
    assert f.pause(at(20), "control") is Action.MUTE_RECORDERS
    assert f.pause(at(21), "control") is Action.NONE
    assert len(f.paused) == 1
    f.resume(at(22), "control")
    f.staff_digit("*", at(30))
    assert f.staff_digit("7", at(34)) is Action.NONE  # more than 3 s between the two keys
    assert f.state is State.BRIDGED


def test_do_not_record_caller_is_connected_but_not_recorded() -> None:
    f = flow(do_not_record=True)
    f.tick(at(13))
    assert f.queue_answered(at(14)) is Action.BRIDGE_ONLY
    assert f.pause(at(15), "control") is Action.NONE  # nothing to mute
    f.hangup("staff", at(30))
    rec = f.consent_record()
    assert rec["outcome"] == "do-not-record" and rec["ended_by"] == "staff"
