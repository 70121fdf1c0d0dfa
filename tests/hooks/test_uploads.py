"""POST /hooks/v1/recordings through the real server: Idempotency-Key (replay, 422, 409),
bad audio (422, kept in spool/rejected/), the size limit (413), the status URL."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy import func, select

from storage.catalogue.models import Recording
from tests.hooks.conftest import HookSite, StalledUpload, upload


def wait_state(c: httpx.Client, status_url: str, want: str) -> dict[str, object]:
    deadline = time.monotonic() + 120
    while True:
        body: dict[str, object] = c.get(status_url).json()
        if body["state"] == want or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def manifest(call_id: str | None = None) -> dict[str, object]:
    return {
        "platform_call_id": call_id or f"up-{uuid.uuid4().hex[:10]}",
        "caller": "+44 1277 312 500",
        "service": "housing",
        "agent": "alex",
        "case_ids": ["HOUS-77"],
        "started_at": "2026-12-02T09:00:00Z",
        "consent": {"notice_seconds_played": 6.0, "objection": None},
    }


def test_same_key_and_body_twice_is_one_recording(hook_site: HookSite, sox_wav: Path) -> None:
    m, audio, key = manifest(), sox_wav.read_bytes(), uuid.uuid4().hex
    with hook_site.client() as c:
        first = upload(c, m, audio, key)  # httpx picks a new random boundary each time
        again = upload(c, m, audio, key)
        assert first.status_code == 202, first.text
        assert again.status_code == 202 and again.json() == first.json()
        body = first.json()
        assert body["status_url"] == f"/hooks/v1/recordings/{body['id']}"
        assert wait_state(c, body["status_url"], "stored")["state"] == "stored"
        other = upload(c, {**m, "agent": "sam"}, audio, key)
        assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]
        assert other.headers["content-type"] == "application/problem+json"
    svc = hook_site.services()
    try:
        with svc.catalogue.session() as s:
            n = s.scalar(
                select(func.count())
                .select_from(Recording)
                .where(Recording.call_id == m["platform_call_id"])
            )
    finally:
        svc.close()
    assert n == 1


def test_bad_audio_is_422_with_the_reason_and_kept_in_rejected(hook_site: HookSite) -> None:
    with hook_site.client() as c:
        r = upload(c, manifest(), b"RIFF....WAVEfmt this is not audio" * 10, uuid.uuid4().hex)
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["title"] == "Audio rejected"
        assert "not readable audio" in body["detail"]
        assert wait_state(c, body["status_url"], "rejected")["state"] == "rejected"
    svc = hook_site.services()
    try:
        assert (svc.spool.rejected_dir / body["id"]).is_dir()
    finally:
        svc.close()


def test_a_retry_while_the_first_is_still_running_is_409(
    hook_site: HookSite, sox_wav: Path
) -> None:
    key, m = uuid.uuid4().hex, manifest()
    audio = sox_wav.read_bytes()
    first = StalledUpload(hook_site, m, audio, key, cut=1000)
    t = first.start()
    try:
        svc = hook_site.services()
        try:
            first.claimed(svc)
        finally:
            svc.close()
        with hook_site.client() as c:
            busy = upload(c, m, audio, key)
        assert busy.status_code == 409, busy.text
        assert "still being answered" in busy.json()["detail"]
    finally:
        first.go.set()
        t.join(120)
    [answer] = first.outcome
    assert isinstance(answer, httpx.Response) and answer.status_code == 202, answer


def test_the_size_limit_is_a_clear_413(hook_site: HookSite) -> None:
    big = b"\0" * (9 * 1024 * 1024)  # the site allows 8 MB
    with hook_site.client() as c:
        declared = upload(c, manifest(), big)
        assert declared.status_code == 413, declared.text
        assert "limit" in declared.json()["detail"]

        def chunked() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            yield b'--b\r\nContent-Disposition: form-data; name="audio"; filename="x.wav"\r\n\r\n'
            for _ in range(9):
                yield b"\0" * (1024 * 1024)

        streamed = c.post(
            "/hooks/v1/recordings",
            content=chunked(),
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
        assert streamed.status_code == 413, streamed.text


def test_bad_manifests_and_bodies_are_named(hook_site: HookSite, sox_wav: Path) -> None:
    audio = sox_wav.read_bytes()
    with hook_site.client() as c:
        r = upload(c, {"caller": "+441277312500"}, audio)
        assert r.status_code == 422 and "platform_call_id" in r.json()["detail"]
        r = upload(c, {**manifest(), "colour": "blue"}, audio)
        assert r.status_code == 422 and "colour" in r.json()["detail"]
        r = upload(c, {**manifest(), "started_at": "yesterday"}, audio)
        assert r.status_code == 422 and "started_at" in r.json()["detail"]
        r = c.post("/hooks/v1/recordings", json={"audio": "x"})
        assert r.status_code == 400 and "multipart/form-data" in r.json()["detail"]
        r = c.post("/hooks/v1/recordings", files={"manifest": (None, json.dumps(manifest()))})
        assert r.status_code == 400 and "audio" in r.json()["detail"]
        r = c.get(f"/hooks/v1/recordings/{uuid.uuid4()}")
        assert r.status_code == 404
