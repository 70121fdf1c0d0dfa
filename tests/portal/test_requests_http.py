"""Data-subject requests through the real portal (uvicorn subprocess, httpx): a DPO opens an
erasure request from the caller's number in another spelling and proposes the erasure on the
pages; their own approval is refused; a second DPO approves through the API and the recording
is shredded. The access pack downloads from the request page's button."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile

from sqlalchemy import select

from callvault.settings import load_settings
from callvault.wiring import Services
from portal.auth.users import Users
from storage.catalogue.models import AuditEvent, Recording, RecordingKey
from tests.portal.conftest import PASSWORD, Site, csrf

SPELLING = "01277 312500"  # the calls were stored with "+44 1277 312 500"


def test_erasure_approved_by_a_second_dpo_and_the_pack_download(site: Site) -> None:
    svc = Services.build(load_settings(site.config, environ={}))
    try:
        Users(svc.catalogue).add("dpo2", "dpo", password=PASSWORD, actor="tester")
        dpo2 = Users(svc.catalogue).issue_token("dpo2", label="tests", actor="tester")
        with site.client("dpo") as c:
            token = csrf(c, "/requests")
            r = c.post(
                "/requests",
                data={"kind": "erasure", "callers": SPELLING, "csrf_token": token},
            )
            assert r.status_code == 303, r.text[:300]
            req = r.headers["location"].rsplit("/", 1)[1]
            page = c.get(f"/requests/{req}")
            assert page.status_code == 200 and site.waste[:8] in page.text
            assert re.search(r'id="due">\d{4}-\d\d-\d\d', page.text)
            moves = {
                f"/requests/{req}/move/verify": {"how": "council tax account"},
                f"/requests/{req}/decide/erase": {"reason": "asked", "recordings": site.waste},
            }
            for path, form in moves.items():
                r = c.post(path, data=form | {"csrf_token": token})
                assert r.status_code == 303, r.text[:500]
            own = c.post(f"/requests/{req}/approve", data={"csrf_token": token})
            assert own.status_code == 400 and "a second DPO must approve it" in own.text

        api = {"Authorization": f"Bearer {site.tokens['dpo']}"}
        with site.client() as c:
            r = c.post(f"/api/v1/requests/{req}/approve", json={}, headers=api)
            assert r.status_code == 403 and "cannot also approve" in r.json()["detail"]
            r = c.post(
                f"/api/v1/requests/{req}/approve",
                json={},
                headers={"Authorization": f"Bearer {dpo2}"},
            )
            assert r.status_code == 200, r.text[:300]
            assert r.json()["erased"] == [site.waste]
            shown = c.get(f"/api/v1/requests/{req}", headers=api).json()
            status = {x["id"]: x["status"] for x in shown["recordings"]}
            assert status[site.waste] == "destroyed" and status[site.housing] == "stored"
        with svc.catalogue.session() as s:
            rec = s.get(Recording, site.waste)
            assert rec is not None and rec.state == "destroyed"
            assert svc.store.versions(rec.object_key) == [] and s.get(RecordingKey, rec.id) is None

        # An access request for the same caller: its pack, from the button on the page.
        with site.client() as c:
            body = {"kind": "access", "callers": [SPELLING]}
            opened = c.post("/api/v1/requests", json=body, headers=api)
            assert opened.status_code == 201, opened.text[:300]
            acc = opened.json()["id"]
            r = c.post(f"/api/v1/requests/{acc}/verify", json={"how": "passport"}, headers=api)
            assert r.status_code == 200 and r.json()["state"] == "verified"
        with site.client("dpo") as c:
            r = c.post(f"/requests/{acc}/pack", data={"csrf_token": csrf(c, f"/requests/{acc}")})
            assert r.status_code == 200, r.text[:300]
            assert r.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(r.content)) as z:
            names = z.namelist()
            data = json.loads(z.read("data.json"))
        assert f"recordings/{site.housing}/caller.wav" in names and "README.txt" in names
        status = {d["id"]: d["status"] for d in data["recordings"]}
        assert status == {site.housing: "stored", site.waste: "destroyed"}
        with svc.catalogue.session() as s:
            ev = s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "request.pack")
                .order_by(AuditEvent.seq.desc())
            ).first()
            assert ev is not None and ev.actor == "portal:dpo"
            assert json.loads(ev.details)["sha256"] == hashlib.sha256(r.content).hexdigest()
    finally:
        svc.close()
