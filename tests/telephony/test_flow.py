"""The call state machine, without pjsua2: transitions, objection window, pause codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consent.notices import Notice
from consent.settings import ConsentSettings
from telephony.errors import InvalidStateError
from telephony.events import Role
from telephony.flow import Action, CallFlow, State

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
NOTICE = Notice("cs", "3", "en-GB", Path("n.wav"), 10.0, "customer-service")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def flow(**kw: object) -> CallFlow:
    f = CallFlow(call_id="c1", notice=NOTICE, policy=ConsentSettings(), started_at=T0, **kw)  # type: ignore[arg-type]
    assert f.answered(at(0)) is Action.PLAY_NOTICE
    assert f.answered(at(0.1)) is Action.NONE  # the second look at the audio changes nothing
    return f


def test_the_whole_recorded_call() -> None:
    f = flow()
    assert f.tick(at(9.9)) is Action.NONE
    # The queue is dialled as the notice (10 s) ends; the 3 s grace runs on meanwhile.
    assert f.tick(at(10)) is Action.CONNECT_QUEUE and f.state is State.CONNECTING
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
    assert f.tick(at(10)) is Action.CONNECT_QUEUE
    expected = Action.OBJECTED if counts else Action.NONE
    assert f.caller_digit("9", "rfc4733", at(when)) is expected
    assert (f.objection is not None) is counts
    if counts:
        assert f.objection is not None and f.objection["seconds_into_notice"] == when
        assert f.queue_answered(at(14)) is Action.BRIDGE_ONLY  # connected, never recorded
        f.hangup("caller", at(30))
        assert f.consent_record()["outcome"] == "objected"
        assert f.consent_record()["recorded"] is False


def test_objection_after_the_staff_answered_discards_the_recording() -> None:
    f = flow()
    f.tick(at(10))
    assert f.queue_answered(at(10.5)) is Action.START_RECORDING and f.recording
    assert f.caller_digit("9", "sip-info", at(12)) is Action.DISCARD_RECORDING
    assert not f.recording and f.state is State.BRIDGED  # still connected
    assert f.pause(at(13), "control") is Action.NONE  # nothing left to mute
    assert f.hangup("staff", at(20)) is Action.HANGUP_ALL  # nothing left to stop
    rec = f.consent_record()
    assert rec["outcome"] == "objected" and rec["recorded"] is False
    assert rec["notice_completed"] and rec["objection"]["seconds_into_notice"] == 12


def test_objection_digit_after_the_grace_is_an_ordinary_digit() -> None:
    f = flow()
    f.tick(at(10))
    f.queue_answered(at(10.5))
    assert f.caller_digit("9", "rfc4733", at(13.01)) is Action.NONE and f.recording


def test_legs_ending_queue_failure_or_hang_up() -> None:
    f = flow()
    f.tick(at(10))
    assert f.leg_ended(Role.STAFF, 486, at(11)) is Action.PLAY_APOLOGY
    assert f.queue_status == 486
    g = flow()
    g.tick(at(10))
    g.queue_answered(at(11))
    assert g.leg_ended(Role.STAFF, 200, at(20)) is Action.STOP_RECORDING
    assert g.ended_by == "staff" and g.ended_at == at(20)
    assert g.queue_answered(at(20.1)) is Action.NONE  # a late 200 OK after the end


def test_case_ids_and_the_do_not_record_answer_are_flow_actions() -> None:
    f = flow()
    assert f.add_case_id("C-1") is Action.SAVE and f.add_case_id("C-1") is Action.NONE
    assert f.do_not_record_answer(True) is Action.SAVE and f.do_not_record
    f.tick(at(10))
    f.queue_answered(at(11))
    with pytest.raises(InvalidStateError, match="do-not-record answer in state bridged"):
        f.do_not_record_answer(False)


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
    f.tick(at(10))
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
    f.tick(at(10))
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
    f.tick(at(10))
    assert f.queue_answered(at(14)) is Action.BRIDGE_ONLY
    assert f.pause(at(15), "control") is Action.NONE  # nothing to mute
    f.hangup("staff", at(30))
    rec = f.consent_record()
    assert rec["outcome"] == "do-not-record" and rec["ended_by"] == "staff"
