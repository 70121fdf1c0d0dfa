"""POST /hooks/v1/incoming-call through the real server: the do-not-record answer by E.164,
the notice the dialled number selects (with its audio), and the consent-only record opened."""

from __future__ import annotations

import json
import uuid

import httpx
from sqlalchemy import select

from consent.do_not_record import DoNotRecordList
from consent.notices import DEFAULT_APOLOGY
from storage.catalogue.models import AuditEvent, ConsentRecordRow, PlatformCall
from tests.hooks.conftest import HOUSING_LINE, HookSite


def ask(
    site: HookSite, caller: str | None, dialled: str = "0800", who: str = "pbx"
) -> tuple[str, httpx.Response]:
    call_id = f"ast-{uuid.uuid4().hex[:10]}"
    with site.client(who) as c:
        r = c.post(
            "/hooks/v1/incoming-call",
            json={"platform_call_id": call_id, "caller": caller, "dialled": dialled},
        )
    return call_id, r


def test_unknown_caller_is_recorded_with_the_notice_of_the_dialled_number(
    hook_site: HookSite,
) -> None:
    call_id, r = ask(hook_site, "+44 20 7946 0000", HOUSING_LINE)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["record"] is True and body["reason"] is None
    assert body["objection_digit"] == "9"
    n = body["notice"]
    assert (n["id"], n["version"], n["language"]) == ("housing", "4", "en-GB")
    assert n["duration_s"] > 0.5
    audio = httpx.get(n["audio_url"], timeout=30)  # no token: it is public
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    assert audio.content == DEFAULT_APOLOGY.read_bytes()
    # another number falls through to the catch-all notice
    _, other = ask(hook_site, "+44 20 7946 0000", "01277999999")
    assert other.json()["notice"]["id"] == "customer-service"
    svc = hook_site.services()
    try:
        with svc.catalogue.session() as s:
            rows = s.scalars(select(ConsentRecordRow).where(ConsentRecordRow.call_id == call_id))
            docs = [json.loads(row.document) for row in rows]
            call = s.get(PlatformCall, call_id)
            assert call is not None
            last = s.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    finally:
        svc.close()
    assert len(docs) == 1 and docs[0]["outcome"] == "in progress"
    assert docs[0]["notice"] == {"id": "housing", "version": "4", "language": "en-GB"}
    assert "+44" not in json.dumps(docs[0]) and "7946" not in json.dumps(docs[0])
    assert last is not None and "7946" not in (last.details or "")


def test_do_not_record_matches_whatever_form_the_number_takes(hook_site: HookSite) -> None:
    # LISTED was added as "01277 312 999"; platforms send E.164 or national digits
    for form in ("+441277312999", "01277312999", "+44 (0)1277 312999"):
        _, r = ask(hook_site, form)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["record"] is False, form
        assert "do-not-record" in body["reason"]
    _, withheld = ask(hook_site, None)
    assert withheld.json()["record"] is True


def test_bad_input_is_a_problem_naming_the_field(hook_site: HookSite) -> None:
    _, anonymous = ask(hook_site, "anonymous")  # no number: withheld (storage/identity.py)
    assert anonymous.json()["record"] is True
    _, r = ask(hook_site, "1" * 300)
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert "caller" in r.json()["detail"]
    with hook_site.client() as c:
        r2 = c.post("/hooks/v1/incoming-call", json={"caller": "+441277312500"})
    assert r2.status_code == 400 and "platform_call_id" in r2.json()["detail"]


def test_a_retried_decision_opens_no_second_record(hook_site: HookSite) -> None:
    call_id = f"retry-{uuid.uuid4().hex[:8]}"
    with hook_site.client() as c:
        for _ in range(3):
            r = c.post(
                "/hooks/v1/incoming-call",
                json={"platform_call_id": call_id, "caller": "+441277312500", "dialled": "1"},
            )
            assert r.status_code == 200
    svc = hook_site.services()
    try:
        with svc.catalogue.session() as s:
            n = len(
                s.scalars(select(ConsentRecordRow).where(ConsentRecordRow.call_id == call_id)).all()
            )
    finally:
        svc.close()
    assert n == 1


def test_only_platform_tokens_reach_the_hooks(hook_site: HookSite) -> None:
    _, sup = ask(hook_site, "+441277312500", who="sup")
    assert sup.status_code == 403
    assert "platform" in sup.json()["detail"]
    _, anon = ask(hook_site, "+441277312500", who="")
    assert anon.status_code == 401
    with hook_site.client() as c:
        api = c.get("/api/v1/recordings")
    assert api.status_code == 403  # a platform token is for the hooks only
    log = hook_site.log.read_text()
    assert "hook POST /hooks/v1/incoming-call by pbx: 200" in log
    assert "1277312" not in log and "7946" not in log  # no number in any log line


def test_an_objection_added_a_moment_before_is_answered_at_once(hook_site: HookSite) -> None:
    """No cache between the list and the decision (issue 7 item 3): the next decision after
    an addition says do-not-record, and the consent-only record is committed by the answer."""
    number = f"+4412773{uuid.uuid4().int % 100000:05d}"
    _, before = ask(hook_site, number)
    assert before.json()["record"] is True
    svc = hook_site.services()
    try:
        DoNotRecordList(svc.catalogue, svc.hasher).add(number, reason="by phone", actor="tester")
        call_id, after = ask(hook_site, number)
        assert after.status_code == 200 and after.json()["record"] is False
        with svc.catalogue.session() as s:
            [row] = s.scalars(select(ConsentRecordRow).where(ConsentRecordRow.call_id == call_id))
            call = s.get(PlatformCall, call_id)
        assert call is not None and call.consent_record_id == row.id
        assert json.loads(row.document)["outcome"] == "do-not-record"
        assert row.caller_hash == svc.hasher.hash(number)
    finally:
        svc.close()
