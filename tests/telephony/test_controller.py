"""The per-call controller without pjsua2: typed events in, commands out."""

from __future__ import annotations

import logging
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consent.notices import Notice
from consent.settings import ConsentSettings
from storage.call_record import CallRecord
from telephony.controller import (
    Bridge,
    CallContext,
    CallController,
    Dial,
    Finish,
    GiveUp,
    Hangup,
    Play,
    Save,
    SetRecordingLevel,
    StopPlaying,
    StopRecording,
)
from telephony.events import (
    AudioReady,
    Confirmed,
    Digit,
    Disconnected,
    Ringing,
    Role,
    Tick,
)
from telephony.flow import CallFlow, State

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
NOTICE = Notice("cs", "3", "en-GB", Path("notice.wav"), 4.0, "waste")
APOLOGY = Path("apology.wav")
CALLER, STAFF = Role.CALLER, Role.STAFF
FLOW = "f-1"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Lookups:
    """consent.do_not_record.DoNotRecordCache's two faces: the query and the cached list."""

    def __init__(self, cached: bool) -> None:
        self.cached = cached
        self.asked: list[str | None] = []

    def __call__(self, number: str | None) -> bool:
        self.asked.append(number)
        return self.cached


def controller(dnr: Future[bool] | None = None, lookups: Lookups | None = None) -> CallController:
    flow = CallFlow("sip-call-1", NOTICE, ConsentSettings(objection_grace_s=2.0), at(0))
    ctx = CallContext(FLOW, "sip-call-1", "+441277000013", "100", "sip:queue@q", "10.0.0.1")
    done: Future[bool] = Future()
    done.set_result(False)
    return CallController(
        ctx,
        flow,
        ack_timeout_s=5.0,
        apology=(APOLOGY, 3.0),
        do_not_record=dnr or done,
        cached_do_not_record=lookups or Lookups(cached=False),
    )


def up(ctl: CallController, role: Role, t: float) -> list[object]:
    first = ctl.handle(Confirmed(None, FLOW, role, at(t)))
    return first + ctl.handle(AudioReady(FLOW, role, at(t + 0.01)))


def to_bridged(ctl: CallController) -> None:
    assert up(ctl, CALLER, 0.1) == [Play(CALLER, NOTICE.file), Save()]
    assert ctl.handle(Tick(at(4.11))) == [StopPlaying(), Dial("sip:queue@q"), Save()]
    assert up(ctl, STAFF, 4.5) == [Bridge(record=True), Save()]
    ctl.recording_started(at(4.52))


def test_a_recorded_call_from_answer_to_hand_over() -> None:
    ctl = controller()
    assert ctl.handle(Tick(at(0.05))) == []  # nothing yet: waiting for ACK and audio
    assert ctl.wants_audio() == [CALLER]
    assert up(ctl, CALLER, 0.1) == [Play(CALLER, NOTICE.file), Save()]
    assert ctl.handle(Tick(at(4.0))) == []
    # The queue is dialled as the notice ends (0.11 + 4 s), not after the grace.
    assert ctl.handle(Tick(at(4.11))) == [StopPlaying(), Dial("sip:queue@q"), Save()]
    assert ctl.timing.notice_ended_at == at(4.11) and ctl.timing.queue_dialled_at == at(4.11)
    assert ctl.handle(Ringing(None, FLOW, STAFF, at(4.2))) == []
    assert ctl.timing.queue_ringing_at == at(4.2)
    assert ctl.handle(Confirmed(None, FLOW, STAFF, at(4.5))) == []  # no audio yet
    assert ctl.wants_audio() == [STAFF]
    assert ctl.handle(AudioReady(FLOW, STAFF, at(4.6))) == [Bridge(record=True), Save()]
    ctl.recording_started(at(4.61))
    assert ctl.handle(Digit(None, FLOW, STAFF, "*", "rfc4733", at(10))) == []
    assert ctl.handle(Digit(None, FLOW, STAFF, "7", "rfc4733", at(10.2))) == [
        SetRecordingLevel(0.0),
        Save(),
    ]
    assert ctl.pause(at(15), resume=True) == [SetRecordingLevel(1.0), Save()]
    # The hang-up's own time, not the later tick that handles it, ends the call.
    assert ctl.handle(Disconnected(None, FLOW, CALLER, 200, at(30))) == [
        StopPlaying(),
        StopRecording(discard=False),
        Hangup(STAFF),
        Save(),
    ]
    assert ctl.handle(Disconnected(None, FLOW, STAFF, 200, at(30.4))) == [Finish()]
    record = ctl.record()
    assert record.consent["ended_at"] == at(30).isoformat()
    assert record.consent["bridged_at"] == at(4.6).isoformat()
    assert record.consent["ended_by"] == "caller" and record.recorded
    assert record.recorded_seconds() == pytest.approx(25.39)
    assert CallRecord.from_json(record.to_json()) == record


def test_objection_in_the_grace_after_the_staff_answered_discards_the_audio() -> None:
    ctl = controller()
    to_bridged(ctl)
    # notice ended at 4.11, grace 2 s: a 9 at 5.5 still objects
    assert ctl.handle(Digit(None, FLOW, CALLER, "9", "rfc4733", at(5.5))) == [
        StopRecording(discard=True),
        Save(),
    ]
    assert ctl.flow.state is State.BRIDGED  # the caller stays connected
    assert ctl.timing.recording_discarded
    assert ctl.handle(Disconnected(None, FLOW, STAFF, 200, at(20))) == [
        StopPlaying(),
        StopRecording(discard=False),
        Hangup(CALLER),
        Save(),
    ]
    record = ctl.record()
    assert record.consent["outcome"] == "objected" and not record.recorded


def test_objection_in_the_grace_before_the_staff_answered_bridges_unrecorded() -> None:
    ctl = controller()
    up(ctl, CALLER, 0.1)
    ctl.handle(Tick(at(4.11)))
    assert ctl.handle(Digit(None, FLOW, CALLER, "9", "sip-info", at(4.3))) == [Save()]
    assert up(ctl, STAFF, 4.5) == [Bridge(record=False), Save()]
    assert ctl.handle(Digit(None, FLOW, CALLER, "9", "sip-info", at(4.6))) == []  # once only


def test_an_answered_call_never_acked_is_given_up_once() -> None:
    ctl = controller()
    assert ctl.handle(AudioReady(FLOW, CALLER, at(0.1))) == []
    assert ctl.handle(Tick(at(4.9))) == []
    assert ctl.handle(Tick(at(5.0))) == [GiveUp()]
    assert ctl.handle(Tick(at(5.1))) == []
    assert ctl.handle(Disconnected(None, FLOW, CALLER, 408, at(5.2))) == [
        StopPlaying(),
        StopRecording(discard=False),
        Save(),
        Finish(),
    ]
    assert ctl.record().signalling_only  # the notice never played: no consent record due


def test_queue_failure_plays_the_apology_then_hangs_up() -> None:
    ctl = controller()
    up(ctl, CALLER, 0.1)
    ctl.handle(Tick(at(4.11)))
    assert ctl.handle(Disconnected(None, FLOW, STAFF, 486, at(4.3))) == [
        Play(CALLER, APOLOGY),
        Save(),
    ]
    assert ctl.handle(Tick(at(7.7))) == []
    assert ctl.handle(Tick(at(7.8))) == [Hangup(CALLER)]
    assert ctl.handle(Disconnected(None, FLOW, CALLER, 200, at(7.9)))[-1] == Finish()
    assert ctl.record().consent["outcome"] == "queue-failed"


def test_shutdown_ends_the_call_as_the_agent() -> None:
    ctl = controller()
    to_bridged(ctl)
    assert ctl.shutdown(at(9))[:2] == [StopPlaying(), StopRecording(discard=False)]
    assert ctl.record().consent["ended_by"] == "agent-shutdown"
    assert ctl.add_case_id("C-9") == [Save()] and ctl.record().case_ids == ["C-9"]


@pytest.mark.parametrize("answer", [True, False])
def test_the_do_not_record_query_answer_is_used_when_it_has_come(answer: bool) -> None:
    lookups = Lookups(cached=not answer)
    done: Future[bool] = Future()
    done.set_result(answer)
    ctl = controller(done, lookups)
    up(ctl, CALLER, 0.1)
    ctl.handle(Tick(at(4.11)))
    assert ctl.flow.do_not_record is answer and lookups.asked == []
    assert up(ctl, STAFF, 4.5)[0] == Bridge(record=not answer)


def test_a_query_not_answered_yet_falls_back_to_the_cached_list(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lookups = Lookups(cached=True)
    ctl = controller(Future(), lookups)
    up(ctl, CALLER, 0.1)
    with caplog.at_level(logging.WARNING):
        ctl.handle(Tick(at(4.11)))
    assert ctl.flow.do_not_record is True and lookups.asked == ["+441277000013"]
    assert "used the cached list" in caplog.text and "1277" not in caplog.text
