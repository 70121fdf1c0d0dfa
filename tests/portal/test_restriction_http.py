"""Restriction, rectification and the disclosure register through the real portal (issue 11),
on both backends: a restricted recording is absent (404) for a supervisor and QA through the
API, the pages and an audio URL opened before, present for the dpo; a disclosure recorded with
the form is a zip whose manifest matches its files and whose audio decodes, and it shows on the
register, the recording page, the API and the audit log; rectification history is shown."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import zipfile
from pathlib import Path

import httpx

from tests.portal.conftest import Site, csrf


def api(site: Site, who: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {site.tokens[who]}"}
    return httpx.Client(base_url=site.base, headers=headers, timeout=60)


def test_restricted_recording_is_absent_for_supervisor_and_qa_present_for_dpo(site: Site) -> None:
    rid = site.housing
    with api(site, "sup-housing") as sup, api(site, "qa-all") as qa, api(site, "dpo") as dpo:
        grant = sup.post(f"/api/v1/recordings/{rid}/access", json={"reason": "complaint"})
        assert grant.status_code == 200, grant.text
        audio_url = grant.json()["audio_url"]
        assert sup.get(audio_url, headers={"Range": "bytes=0-99"}).status_code == 206

        r = dpo.post(f"/api/v1/recordings/{rid}/restrict", json={"reason": "caller's legal claim"})
        assert r.status_code == 200, r.text
        assert r.json() == {"restricted": [rid], "already_restricted": []}

        for client in (sup, qa):
            for method, path, body in (
                ("GET", f"/api/v1/recordings/{rid}", None),
                ("POST", f"/api/v1/recordings/{rid}/access", {"reason": "again"}),
                ("GET", audio_url, None),
                ("GET", f"/recordings/{rid}", None),
                ("GET", f"/recordings/{rid}/waveform.svg", None),
                ("GET", f"/recordings/{rid}/evaluations", None),
            ):
                r = client.request(method, path, json=body)
                assert r.status_code == 404, (method, path, r.status_code, r.text[:200])
                assert r.headers["content-type"] == "application/problem+json"
            listed = client.get("/api/v1/recordings", params={"service": "housing"}).json()
            assert rid not in [i["id"] for i in listed["items"]] and listed["total"] == 0
            found = client.post("/api/v1/recordings/search", json={"case_id": "HOUS-1"}).json()
            assert found["items"] == []
        # The restricted state answers like a missing recording: same status, same detail.
        missing = sup.get("/api/v1/recordings/00000000-0000-0000-0000-000000000000").json()
        hidden = sup.get(f"/api/v1/recordings/{rid}").json()
        assert hidden["title"] == missing["title"] and hidden["status"] == missing["status"]

        shown = dpo.get(f"/api/v1/recordings/{rid}").json()
        assert shown["restricted"] is True
        assert shown["restriction"]["reason"] == "caller's legal claim"
        listed = dpo.get("/api/v1/recordings", params={"service": "housing"}).json()
        assert [(i["id"], i["restricted"]) for i in listed["items"]] == [(rid, True)]
        page = dpo.get(f"/recordings/{rid}")
        assert page.status_code == 200 and 'id="restricted"' in page.text
        assert dpo.post(f"/api/v1/recordings/{rid}/access", json={"reason": "dpo"}).is_success

        # Lifting needs a reason, is audited, and gives the recording back.
        r = dpo.post(f"/api/v1/recordings/{rid}/unrestrict", json={"reason": " "})
        assert r.status_code == 400 and "reason" in r.json()["detail"]
        r = dpo.post(f"/api/v1/recordings/{rid}/unrestrict", json={"reason": "claim settled"})
        assert r.status_code == 200 and r.json() == {"lifted": [rid]}
        assert sup.get(f"/api/v1/recordings/{rid}").json()["restricted"] is False
        events = dpo.get("/api/v1/audit", params={"recording_id": rid}).json()["items"]
        actions = [(e["action"], e["details"].get("reason")) for e in events]
        assert ("recording.restrict", "caller's legal claim") in actions
        assert ("recording.unrestrict", "claim settled") in actions


def test_disclosure_recorded_with_the_form_and_shown_everywhere(site: Site, tmp_path: Path) -> None:
    rid = site.waste
    with site.client("dpo") as c:
        token = csrf(c, f"/disclosures/new?recording={rid}")
        form = {
            "csrf_token": token,
            "recipient": "Essex Police",
            "kind": "police",
            "basis": "DPA 2018 Schedule 2 paragraph 2 (crime)",
            "reference": "EP/2026/77",
            "reason": "threats made during the call",
            "recordings": rid,
        }
        bad = c.post("/disclosures", data=form | {"kind": "press"})
        assert bad.status_code == 400 and "allowed: police" in bad.text
        assert "EP/2026/77" in bad.text  # what was typed is kept
        r = c.post("/disclosures", data=form)
        assert r.status_code == 200, r.text[:300]
        assert r.headers["content-type"] == "application/zip"
        disclosure_id = r.headers["x-disclosure-id"]
        z = zipfile.ZipFile(io.BytesIO(r.content))
        assert z.testzip() is None
        manifest = z.read("manifest.json")
        assert hashlib.sha256(manifest).hexdigest() == r.headers["x-manifest-sha256"]
        doc = json.loads(manifest)
        assert doc["disclosure"]["recipient"] == "Essex Police"
        [entry] = doc["files"]
        audio = z.read(entry["file"])
        assert hashlib.sha256(audio).hexdigest() == entry["sha256"]
        sums = z.read("SHA256SUMS").decode()
        assert f"{entry['sha256']}  {entry['file']}" in sums
        out = tmp_path / Path(entry["file"]).name
        out.write_bytes(audio)
        decoded = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(out), "-f", "s16le", "-"],
            capture_output=True,
            check=True,
        ).stdout
        assert len(decoded) > 2 * 8000 * 2  # over a second of 16-bit stereo at 8 kHz

        register = c.get("/disclosures")
        assert register.status_code == 200 and f'id="disclosure-{disclosure_id}"' in register.text
        page = c.get(f"/recordings/{rid}").text
        assert "EP/2026/77" in page and "threats made during the call" in page
    with api(site, "dpo") as dpo, api(site, "sup-waste") as sup:
        [listed] = dpo.get("/api/v1/disclosures", params={"recording_id": rid}).json()["items"]
        assert listed["id"] == disclosure_id and listed["recording_ids"] == [rid]
        assert listed["manifest_sha256"] == hashlib.sha256(manifest).hexdigest()
        events = dpo.get("/api/v1/audit", params={"recording_id": rid}).json()["items"]
        added = [e for e in events if e["action"] == "disclosure.add"]
        assert [e["details"]["disclosure_id"] for e in added] == [disclosure_id]
        assert sup.get("/api/v1/disclosures").status_code == 403
    with site.client("sup-waste") as c:
        # The supervisor sees that it was disclosed, not the basis or the reason.
        page = c.get(f"/recordings/{rid}").text
        assert "EP/2026/77" in page and "threats made during the call" not in page
        assert "Record the correction" not in page and "Restrict" not in page


def test_rectification_form_history_shown(site: Site) -> None:
    rid = site.waste
    with site.client("dpo") as c:
        token = csrf(c, f"/recordings/{rid}")
        empty = c.post(f"/recordings/{rid}/rectify", data={"csrf_token": token, "reason": "x"})
        assert empty.status_code == 400 and "say what to correct" in empty.text
        r = c.post(
            f"/recordings/{rid}/rectify",
            data={
                "csrf_token": token,
                "add_case_id": "WASTE-10",
                "statement": "The caller says the street named is Ongar Road, not Ongar Lane.",
                "reason": "caller's rectification request",
            },
        )
        assert r.status_code == 303, r.text[:300]
        page = c.get(f"/recordings/{rid}").text
        assert "Ongar Road, not Ongar Lane" in page and "WASTE-10" in page
    with api(site, "sup-waste") as sup:
        shown = sup.get(f"/api/v1/recordings/{rid}").json()
        assert "WASTE-10" in shown["case_ids"]
        assert [(h["field"], h["change"]) for h in shown["rectifications"]] == [
            ("case_id", "add"),
            ("statement", "statement"),
        ]
        r = sup.post(f"/api/v1/recordings/{rid}/rectify", json={"statement": "x", "reason": "y"})
        assert r.status_code == 403
    # The recording page's restriction forms (dpo), as a browser posts them.
    with site.client("dpo") as c, api(site, "sup-waste") as sup:
        token = csrf(c, f"/recordings/{rid}")
        r = c.post(f"/recordings/{rid}/restrict", data={"csrf_token": token, "reason": "claim"})
        assert r.status_code == 303
        assert 'id="restricted"' in c.get(f"/recordings/{rid}").text
        assert sup.get(f"/api/v1/recordings/{rid}").status_code == 404
        r = c.post(f"/recordings/{rid}/unrestrict", data={"csrf_token": token, "reason": ""})
        assert r.status_code == 400 and "reason" in r.text
        r = c.post(f"/recordings/{rid}/unrestrict", data={"csrf_token": token, "reason": "done"})
        assert r.status_code == 303
        assert sup.get(f"/api/v1/recordings/{rid}").status_code == 200
