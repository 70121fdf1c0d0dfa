"""The call record in `call.json`: one typed object, and the files older agents left."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from storage.call_record import CallRecord, CallTiming
from storage.errors import StorageError

# What the agent before storage/call_record.py wrote (version 1: no version, no timing).
V1 = {
    "flow_id": "11111111-1111-4111-8111-111111111111",
    "call_id": "sip-1",
    "caller": "+441277000000",
    "dialled": "100",
    "service": "waste",
    "queue_uri": "sip:queue@127.0.0.1:5080",
    "case_ids": ["C-1"],
    "state": "ended",
    "signalling_only": False,
    "consent": {"recorded": True, "bridged_at": "2026-12-01T10:00:05+00:00", "ended_at": None},
}


def test_a_version_1_file_reads_with_unknown_timing() -> None:
    record = CallRecord.from_json(json.dumps(V1))
    assert record.flow_id == V1["flow_id"] and record.case_ids == ["C-1"]
    assert record.timing == CallTiming() and record.recorded_seconds() is None
    assert record.bridged_at == datetime(2026, 12, 1, 10, 0, 5, tzinfo=UTC)
    again = json.loads(record.to_json())
    assert again["version"] == 2 and {k: again[k] for k in V1} == V1


def test_round_trip_keeps_the_timing() -> None:
    t = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    record = CallRecord(
        "f", "c", {"ended_at": "2026-12-02T09:00:30+00:00"}, timing=CallTiming(t, t, t, t, True)
    )
    back = CallRecord.from_json(record.to_json())
    assert back == record and back.recorded_seconds() == 30.0


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("[]", "not a JSON object"),
        ("{", "not JSON"),
        ('{"flow_id": "f"}', "lacks call_id, consent"),
        ('{"version": 7, "flow_id": "f", "call_id": "c", "consent": {}}', "version 7"),
        (
            '{"flow_id": "f", "call_id": "c", "consent": {}, "timing": {"queue_dialled_at": 5}}',
            "timing.queue_dialled_at = 5",
        ),
    ],
)
def test_a_bad_record_names_what_is_wrong(doc: str, message: str) -> None:
    with pytest.raises(StorageError, match=message):
        CallRecord.from_json(doc)
