"""The agent's call-record writer: each call's records in order, calls not queued behind each
other's fsyncs (unit level; the SIP-level behaviour is in the recorded/unrecorded call tests)."""

from __future__ import annotations

import threading
from pathlib import Path

from storage.call_record import CallRecord
from telephony.calldir import CallDir, RecordWriter


class SlowDir(CallDir):
    """A call directory whose record write waits until released (a slow fsync)."""

    def __init__(self, root: Path, flow_id: str, release: threading.Event) -> None:
        super().__init__(root, flow_id)
        self.gate = release
        self.writing = threading.Event()

    def write(self, data: bytes) -> None:
        self.writing.set()
        assert self.gate.wait(30), "never released"
        super().write(data)


def _ids_on_two_lanes(writer: RecordWriter) -> tuple[str, str]:
    first = "call-0"
    for i in range(1, 100):
        if writer.lane(f"call-{i}") != writer.lane(first):
            return first, f"call-{i}"
    raise AssertionError("every id on one lane")


def test_a_calls_records_are_written_in_order_and_its_follow_up_sees_the_last(
    tmp_path: Path,
) -> None:
    writer = RecordWriter()
    writer.start()
    calldir = CallDir(tmp_path, "call-1")
    calldir.lock()
    seen: list[str] = []
    try:
        for state in ("ringing", "notice", "bridged", "ended"):
            writer.save(calldir, CallRecord(flow_id="call-1", call_id="c", consent={}, state=state))
        done = threading.Event()

        def follow_up() -> None:
            seen.append(CallRecord.from_json((calldir.path / "call.json").read_bytes()).state)
            done.set()

        writer.then(calldir, follow_up)
        assert done.wait(30)
    finally:
        writer.stop()
        calldir.release()
    assert seen == ["ended"]


def test_one_calls_slow_write_does_not_hold_up_another_calls_hand_off(tmp_path: Path) -> None:
    writer = RecordWriter(lanes=2)
    slow_id, quick_id = _ids_on_two_lanes(writer)
    release = threading.Event()
    slow, quick = SlowDir(tmp_path, slow_id, release), CallDir(tmp_path, quick_id)
    slow.lock()
    quick.lock()
    handed_over: list[str] = []
    quick_done = threading.Event()
    writer.start()
    try:
        writer.save(slow, CallRecord(flow_id=slow_id, call_id="a", consent={}, state="ended"))
        writer.then(slow, lambda: handed_over.append(slow_id))
        assert slow.writing.wait(30)
        writer.save(quick, CallRecord(flow_id=quick_id, call_id="b", consent={}, state="ended"))
        writer.then(quick, lambda: (handed_over.append(quick_id), quick_done.set()))
        assert quick_done.wait(30), "the quick call waited for the slow call's write"
        assert handed_over == [quick_id]  # the slow call's hand-off still waits for its record
        release.set()
    finally:
        release.set()
        writer.stop()  # writes what is queued, runs what follows it
        slow.release()
        quick.release()
    assert handed_over == [quick_id, slow_id]
    assert CallRecord.from_json((slow.path / "call.json").read_bytes()).state == "ended"
