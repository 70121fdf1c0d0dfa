"""The portal over real HTTP: sessions, CSRF, search, playback grants, Range audio, scope."""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from callvault.settings import load_settings
from callvault.wiring import Services
from portal.auth.users import Users
from portal.timing import app_duration_ms
from storage.catalogue.models import AuditEvent
from tests.conftest import CALLVAULT
from tests.portal.conftest import CALLER, PASSWORD, Site, csrf, login, running_portal


@pytest.fixture
def services(site: Site) -> Iterator[Services]:
    svc = Services.build(load_settings(site.config, environ={}))
    yield svc
    svc.close()


def events(svc: Services, action: str, recording_id: str | None = None) -> list[AuditEvent]:
    with svc.catalogue.session() as s:
        stmt = select(AuditEvent).where(AuditEvent.action == action)
        if recording_id:
            stmt = stmt.where(AuditEvent.recording_id == recording_id)
        return list(s.scalars(stmt.order_by(AuditEvent.seq)))


def grant(c: httpx.Client, rid: str, reason: str = "complaint 42") -> str:
    token = csrf(c, f"/recordings/{rid}")
    r = c.post(
        f"/recordings/{rid}/access",
        data={"csrf_token": token, "reason_code": "complaint", "reason": reason},
    )
    assert r.status_code == 303, r.text
    page = c.get(r.headers["location"])
    m = re.search(r'src="/audio/([^"]+)"', page.text)
    assert m, page.text
    return m[1]


def test_login_sets_a_strict_httponly_cookie_and_logout_ends_the_session(site: Site) -> None:
    with site.client() as c:
        r = login(c, "sup-housing", PASSWORD)
        assert r.status_code == 303 and r.headers["location"] == "/search"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert "Secure" not in cookie  # plain HTTP on loopback
        value = c.cookies["cv_session"]
        assert c.get("/search").status_code == 200
        assert c.post("/logout", data={"csrf_token": csrf(c)}).status_code == 303
    with httpx.Client(base_url=site.base, cookies={"cv_session": value}) as old:
        assert old.get("/search").status_code == 303  # back to /login: the session is gone


def test_failed_logins_are_audited_then_throttled(site: Site, services: Services) -> None:
    Users(services.catalogue).add("victim", "qa", password=PASSWORD, actor="tester")
    with site.client() as c:
        for _ in range(5):
            assert login(c, "victim", "wrong password!!").status_code == 401
        r = login(c, "victim", PASSWORD)  # right password, but throttled now
        assert r.status_code == 429 and "too many failed logins" in r.text.lower()
    failed = [json.loads(e.details) for e in events(services, "portal.login.failed")]
    mine = [d for d in failed if d["user"] == "victim"]
    assert [d["reason"] for d in mine] == ["bad credentials"] * 5 + ["throttled"]
    assert all(PASSWORD not in json.dumps(d) for d in failed)


def test_a_one_time_password_must_be_changed_first(site: Site, services: Services) -> None:
    users = Users(services.catalogue)
    users.add("newbie", "supervisor", password="temporary-pass-1", actor="tester")
    users.set_password("newbie", "temporary-pass-2", actor="tester", temporary=True)
    with site.client() as c:
        r = login(c, "newbie", "temporary-pass-2")
        assert r.headers["location"] == "/password"
        assert c.get("/search").headers["location"] == "/password"
        token = csrf(c, "/password")
        form = {"csrf_token": token, "current": "temporary-pass-2"}
        r = c.post("/password", data={**form, "new": "short", "again": "short"})
        assert r.status_code == 400 and "12 characters" in r.text
        new = "a much longer passphrase"
        r = c.post("/password", data={**form, "new": new, "again": new})
        assert r.status_code == 303
        assert c.get("/search").status_code == 200


def test_a_newcomer_logs_in_with_the_printed_password_and_finds_plays_audits(
    tmp_path: Path, speech_call: Path
) -> None:
    """The issue's "done when" on the embedded default: init, log in with the one-time
    password, change it, find the call, play it, see the play in the audit viewer."""
    config = tmp_path / "callvault.toml"
    config.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CALLVAULT, "--config", str(config), *args],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            cwd=tmp_path,
        )

    first = cli("init")
    m = re.search(r"created portal user admin with one-time password (\S+)", first.stdout)
    assert m, first.stdout
    assert "one-time password" not in cli("init").stdout  # once only
    cli("ingest", str(speech_call), "--call-id", "demo-1", "--case-id", "DEMO-1")
    with (
        running_portal(config, tmp_path / "portal.log") as base,
        httpx.Client(base_url=base, timeout=30) as c,
    ):
        r = login(c, "admin", m[1])
        assert r.status_code == 303 and r.headers["location"] == "/password"
        new = "my own passphrase 2026"
        r = c.post(
            "/password",
            data={"csrf_token": csrf(c, "/password"), "current": m[1], "new": new, "again": new},
        )
        assert r.status_code == 303
        found = c.get("/api/v1/recordings", params={"case_id": "DEMO-1"}).json()["items"]
        assert len(found) == 1
        rid = found[0]["id"]
        g = grant(c, rid, "first look at the demo call")
        assert c.get(f"/audio/{g}", headers={"Range": "bytes=0-99"}).status_code == 206
        audit = c.get("/audit", params={"recording_id": rid})
        assert "recording.play" in audit.text and "first look at the demo call" in audit.text
        assert "Chain: ok" in audit.text


def test_search_by_case_id_and_by_caller_in_a_post_body(site: Site) -> None:
    with site.client("sup-housing") as c:
        r = c.get("/search", params={"case_id": "HOUS-1"})
        assert r.status_code == 200 and site.housing in r.text and "1 match" in r.text
        r = c.post("/search", data={"csrf_token": csrf(c), "caller": "01277 312500"})
        assert site.housing in r.text and site.waste not in r.text  # waste: not my service
        r = c.post("/search", data={"csrf_token": csrf(c), "caller": "no number here"})
        assert r.status_code == 400 and "not a telephone number" in r.text
    digits = re.sub(r"\D", "", CALLER)[2:]
    assert digits not in site.log.read_text()  # never in an access log line


def test_keyset_pages_cover_everything_once_with_counts(site: Site) -> None:
    with site.client("dpo") as c:
        first = c.get("/api/v1/recordings", params={"limit": 1}).json()
        assert first["total"] == 2 and len(first["items"]) == 1 and first["next_cursor"]
        second = c.get(
            "/api/v1/recordings", params={"limit": 1, "cursor": first["next_cursor"]}
        ).json()
        assert second["next_cursor"] is None
        ids = {first["items"][0]["id"], second["items"][0]["id"]}
        assert ids == {site.housing, site.waste}
        by_len = c.get("/api/v1/recordings", params={"sort": "duration_s", "order": "asc"})
        assert [i["id"] for i in by_len.json()["items"]] == [site.waste, site.housing]
        objected = c.get("/api/v1/recordings", params={"outcome": "objected"}).json()
        assert objected["total"] == 1 and objected["items"][0]["outcome"] == "objected"
    with site.client("sup-housing") as c:
        r = c.get("/api/v1/recordings", params={"outcome": "objected"})
        assert r.status_code == 403  # consent-only records are the DPO's


def test_playback_needs_a_reason_and_is_audited_once_per_grant(
    site: Site, services: Services
) -> None:
    with site.client("sup-housing") as c:
        token = csrf(c, f"/recordings/{site.housing}")
        r = c.post(f"/recordings/{site.housing}/access", data={"csrf_token": token})
        assert r.status_code == 400 and "reason" in r.text
        before = len(events(services, "recording.play", site.housing))
        g = grant(c, site.housing, "checking the complaint about bins")
        whole = c.get(f"/audio/{g}")
        assert whole.status_code == 200 and whole.headers["cache-control"] == "no-store"
        assert whole.headers["content-type"] == "audio/ogg"
        size = len(whole.content)
        assert whole.content[:4] == b"OggS"
        with services.recordings().open_audio(site.housing) as audio:
            assert size == audio.length
            assert whole.content == b"".join(iter(audio.read, b""))
        start = size * 8 // 10
        part = c.get(f"/audio/{g}", headers={"Range": f"bytes={start}-"})
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes {start}-{size - 1}/{size}"
        assert part.content == whole.content[start:]
        tail = c.get(f"/audio/{g}", headers={"Range": "bytes=-100"})
        assert tail.status_code == 206 and tail.content == whole.content[-100:]
        bad = c.get(f"/audio/{g}", headers={"Range": f"bytes={size}-"})
        assert bad.status_code == 416 and bad.headers["content-range"] == f"bytes */{size}"
    plays = events(services, "recording.play", site.housing)
    assert len(plays) == before + 1  # one grant, four audio requests, one audit event
    details = json.loads(plays[-1].details)
    assert details["reason"] == "checking the complaint about bins"
    assert details["reason_code"] == "complaint" and plays[-1].actor == "portal:sup-housing"


def test_a_grant_is_only_for_the_user_it_was_given_to(site: Site) -> None:
    with site.client("sup-housing") as c:
        g = grant(c, site.housing)
    with site.client("dpo") as other:
        assert other.get(f"/audio/{g}").status_code == 404


def test_another_services_recording_is_not_found_exactly_like_a_missing_one(site: Site) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    with site.client("sup-waste") as c:
        for path in ("/recordings/{}", "/api/v1/recordings/{}", "/recordings/{}/waveform.svg"):
            theirs, nothing = c.get(path.format(site.housing)), c.get(path.format(missing))
            assert theirs.status_code == nothing.status_code == 404
            assert theirs.text.replace(site.housing, "X") == nothing.text.replace(missing, "X")
        token = csrf(c)
        for rid in (site.housing, missing):
            r = c.post(
                f"/recordings/{rid}/access",
                data={"csrf_token": token, "reason_code": "quality", "reason": "x"},
            )
            assert r.status_code == 404
        r = c.post(
            f"/api/v1/recordings/{site.housing}/access",
            json={"reason": "x"},
            headers={"X-CSRF-Token": token},
        )
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"


def test_security_headers(site: Site) -> None:
    with site.client("sup-housing") as c:
        for path in ("/search", f"/recordings/{site.housing}", "/login", "/static/portal.css"):
            h = c.get(path).headers
            csp = h["content-security-policy"]
            assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
            assert "unsafe-inline" not in csp
            assert h["x-content-type-options"] == "nosniff"
            assert h["referrer-policy"] == "no-referrer"
            # the server's own time for the answer, and nothing else in that header
            timing = app_duration_ms(h["server-timing"])
            assert timing is not None and timing >= 0, h["server-timing"]
            assert h["server-timing"].startswith("app;dur=")
        assert c.get("/search").headers["cache-control"] == "no-store"
        page = c.get(f"/recordings/{site.housing}").text
        assert "<script>" not in page and " on" + "click=" not in page
        assert "https://" not in page and "http://" not in page.replace('xmlns="http://', "")


def test_state_changes_need_the_csrf_token_and_the_same_origin(site: Site) -> None:
    with site.client("sup-housing") as c:
        url = f"/recordings/{site.housing}/case-ids"
        form = {"case_id": "HOUS-77", "reason": "linked complaint"}
        assert c.post(url, data=form).status_code == 403
        token = csrf(c)
        cross = c.post(url, data={**form, "csrf_token": token}, headers={"Origin": "http://evil"})
        assert cross.status_code == 403
        ok = c.post(url, data={**form, "csrf_token": token})
        assert ok.status_code == 303
        assert "HOUS-77" in c.get(f"/recordings/{site.housing}").text


def test_api_object_is_the_clis_and_errors_are_problem_details(site: Site) -> None:
    cli = subprocess.run(
        [CALLVAULT, "--config", str(site.config), "recordings", "show", site.waste, "--json"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
        cwd=site.config.parent,
    )
    bearer = {"Authorization": f"Bearer {site.tokens['dpo']}"}
    with httpx.Client(base_url=site.base, headers=bearer) as c:
        api = c.get(f"/api/v1/recordings/{site.waste}")
        assert api.status_code == 200 and api.json() == json.loads(cli.stdout)
        r = c.post(f"/api/v1/recordings/{site.waste}/access", json={"reason": " "})
        assert r.status_code == 400
        assert r.headers["content-type"] == "application/problem+json"
        assert {"title", "detail", "status"} <= r.json().keys()
        g = c.post(f"/api/v1/recordings/{site.waste}/access", json={"reason": "DSAR 7"}).json()
        assert set(g) == {"grant", "audio_url", "expires_at"}
        assert c.get(g["audio_url"], headers={"Range": "bytes=0-9"}).status_code == 206
        found = c.post("/api/v1/recordings/search", json={"caller": CALLER}).json()
        assert {i["id"] for i in found["items"]} == {site.housing, site.waste}
    anon = httpx.get(f"{site.base}/api/v1/recordings")
    assert anon.status_code == 401 and anon.headers["content-type"] == "application/problem+json"
    doc = httpx.get(f"{site.base}/api/v1/openapi.json").json()
    assert "/api/v1/recordings/search" in doc["paths"]
    assert "/search" not in doc["paths"]  # pages are not part of the API


def test_audit_viewer_shows_the_chain_and_the_plays(site: Site) -> None:
    with site.client("sup-housing") as c:
        grant(c, site.housing, "for the audit viewer test")
    with site.client("auditor") as c:
        r = c.get("/api/v1/audit", params={"recording_id": site.housing, "action": "recording."})
        body = r.json()
        assert body["chain"] == "ok"
        reasons = [e["details"].get("reason") for e in body["items"]]
        assert "for the audit viewer test" in reasons
        page = c.get("/audit", params={"actor": "portal:sup-housing"})
        assert "Chain: ok" in page.text and "recording.play" in page.text
    with site.client("sup-housing") as c:
        assert c.get("/audit").status_code == 403


def test_waveform_has_two_lanes_and_the_pause(site: Site) -> None:
    with site.client("qa-all") as c:
        r = c.get(f"/recordings/{site.housing}/waveform.svg")
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
        assert r.text.count('fill="#1d5fa8"') > 100 and r.text.count('fill="#1f7a3f"') > 100
        assert "paused 10.0s to 16.0s" in r.text


def test_download_is_a_separate_audited_permission(site: Site, services: Services) -> None:
    with site.client("sup-housing") as c:
        token = csrf(c)
        r = c.post(
            f"/recordings/{site.housing}/download", data={"csrf_token": token, "reason": "x"}
        )
        assert r.status_code == 403
    with site.client("dpo") as c:
        r = c.post(
            f"/recordings/{site.housing}/download",
            data={"csrf_token": csrf(c), "reason": "subject access request 12"},
        )
        assert r.status_code == 200 and r.content[:4] == b"OggS"
        assert "attachment" in r.headers["content-disposition"]
    last = events(services, "recording.download", site.housing)[-1]
    assert json.loads(last.details)["reason"] == "subject access request 12"


def test_under_tls_the_cookie_is_secure(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    config = tmp_path / "callvault.toml"
    config.write_text(f'[portal]\ntls_cert = "{cert}"\ntls_key = "{key}"\n')
    svc = Services.build(load_settings(config, environ={}))
    try:
        svc.init()
        Users(svc.catalogue).add("tls-user", "qa", password=PASSWORD, actor="tester")
    finally:
        svc.close()
    with (
        running_portal(config, tmp_path / "portal.log", "https") as base,
        httpx.Client(
            base_url=base, verify=ssl.create_default_context(cafile=str(cert)), timeout=30
        ) as c,
    ):
        r = login(c, "tls-user", PASSWORD)
        assert r.status_code == 303
        assert "Secure" in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
        assert c.get("/search").headers["strict-transport-security"].startswith("max-age=")
