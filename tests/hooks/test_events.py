"""POST /hooks/v1/calls/{id}/events through the real server: the facts reach the call's
consent record, an upload for the call carries them, an objection is an outbox event, the
decision's consent record is audited (in a batch)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from sqlalchemy import select

from storage.catalogue.models import (
    AuditEvent,
    ConsentRecordRow,
    OutboxEvent,
    PlatformCall,
    Recording,
)
from tests.hooks.conftest import HookSite, upload
from tests.hooks.test_uploads import wait_state


def open_call(site: HookSite) -> str:
    call_id = f"fs-{uuid.uuid4().hex[:10]}"
    with site.client() as c:
        r = c.post(
            "/hooks/v1/incoming-call",
            json={"platform_call_id": call_id, "caller": "+441277312500", "dialled": "0800"},
        )
        assert r.status_code == 200, r.text
    return call_id


def event(site: HookSite, call_id: str, body: dict[str, object]) -> dict[str, object]:
    with site.client() as c:
        r = c.post(f"/hooks/v1/calls/{call_id}/events", json=body)
    assert r.status_code == 200, r.text
    out: dict[str, object] = r.json()
    return out


def test_events_then_upload_carry_the_consent_facts(hook_site: HookSite, sox_wav: Path) -> None:
    call_id = open_call(hook_site)
    event(hook_site, call_id, {"type": "notice-played", "seconds_played": 14.4})
    event(hook_site, call_id, {"type": "pause", "offset_s": 20.0})
    event(hook_site, call_id, {"type": "resume", "offset_s": 31.5})
    event(hook_site, call_id, {"type": "case-id", "case_id": "HOUS-900"})
    m = {"platform_call_id": call_id, "service": "housing", "case_ids": ["HOUS-1"]}
    with hook_site.client() as c:
        r = upload(c, m, sox_wav.read_bytes())
        assert r.status_code == 202, r.text
        assert wait_state(c, r.json()["status_url"], "stored")["state"] == "stored"
        rid = r.json()["id"]
        end = event(hook_site, call_id, {"type": "hangup", "ended_by": "caller"})
        assert end["outcome"] == "recorded"
        late = c.post(f"/hooks/v1/calls/{call_id}/events", json={"type": "pause"})
        assert late.status_code == 400 and "hung up" in late.json()["detail"]
    svc = hook_site.services()
    try:
        with svc.catalogue.session() as s:
            rec = s.get(Recording, rid)
            assert rec is not None
            cases = sorted(link.case_ref.reference for link in rec.case_links)
            doc = json.loads(
                s.scalars(
                    select(ConsentRecordRow.document).where(ConsentRecordRow.recording_id == rid)
                ).one()
            )
            alone = s.scalars(
                select(ConsentRecordRow.document)
                .where(ConsentRecordRow.call_id == call_id, ConsentRecordRow.recording_id.is_(None))
                .order_by(ConsentRecordRow.id)
            ).all()
    finally:
        svc.close()
    assert cases == ["HOUS-1", "HOUS-900"]
    assert doc["notice_seconds_played"] == 14.4 and doc["notice_completed"] is True
    assert doc["outcome"] == "recorded"
    [pause] = doc["paused_intervals"]
    assert (pause["offset_s"], pause["end_offset_s"]) == (20.0, 31.5)
    # the opening record, then the final one appended at hang-up (records are append-only)
    assert [json.loads(d)["outcome"] for d in alone] == ["in progress", "recorded"]
    assert json.loads(alone[-1])["ended_by"] == "caller"


def test_an_objection_is_recorded_and_emitted(hook_site: HookSite) -> None:
    call_id = open_call(hook_site)
    out = event(hook_site, call_id, {"type": "objection", "method": "dtmf"})
    assert out["outcome"] == "objected"
    with hook_site.client() as c:
        unknown = c.post("/hooks/v1/calls/nope/events", json={"type": "hangup"})
        assert unknown.status_code == 404
        bad = c.post(f"/hooks/v1/calls/{call_id}/events", json={"type": "dance"})
        assert bad.status_code == 400 and "type" in bad.json()["detail"]
        orphan = c.post(f"/hooks/v1/calls/{call_id}/events", json={"type": "resume"})
        assert orphan.status_code == 400 and "resume without a pause" in orphan.json()["detail"]
    svc = hook_site.services()
    try:
        deadline = time.monotonic() + 60
        while True:
            with svc.catalogue.session() as s:
                call = s.get(PlatformCall, call_id)
                assert call is not None
                audited = call.audited_at is not None
                events = [
                    json.loads(e.payload)
                    for e in s.scalars(
                        select(OutboxEvent).where(OutboxEvent.type == "consent.objected")
                    )
                ]
                batch = [
                    json.loads(a.details)
                    for a in s.scalars(
                        select(AuditEvent).where(AuditEvent.action == "consent.record")
                    )
                ]
            if audited or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        svc.close()
    assert {"consent_record_id": call.consent_record_id} in events
    assert audited, "the decision's consent record was not audited"
    assert any(call.consent_record_id in b.get("consent_records", []) for b in batch)
    assert not any("1277312500" in json.dumps(b) for b in batch)
