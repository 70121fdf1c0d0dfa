"""A playback grant reads the version it was opened on while a worker compresses the recording.

A browser plays one recording through many Range requests under one grant. A worker that
replaces the WAV by its Opus form in the middle must not make the later requests read Opus
bytes at the WAV's offsets (another format, another length): the grant pins the object, and
the WAV stays for `[worker] old_object_grace_s`; once it is gone the grant's audio is 410 Gone
with what to do, and a new grant plays the Opus version. Real portal over HTTP, both backends.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from callvault.wiring import Services
from portal.auth.users import Users
from tests.conftest import Backend
from tests.portal.conftest import running_portal
from tests.storage.test_compression import compressor, count_objects, ingest

GRACE_S = 1800


def _grant(c: httpx.Client, rid: str) -> str:
    r = c.post(f"/api/v1/recordings/{rid}/access", json={"reason": "complaint 17"})
    assert r.status_code == 200, r.text
    url: str = r.json()["audio_url"]
    return url


def test_a_grant_keeps_reading_the_wav_it_opened_across_compression_then_says_gone(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    rec = ingest(backend, speech_call)
    assert rec["format"] == "wav"
    wav = speech_call.read_bytes()  # the committed WAV is the input, byte for byte
    users = Users(services.catalogue)
    users.add("dpo", "dpo", services=None, password=None, may_download=False, actor="tester")
    bearer = {"Authorization": f"Bearer {users.issue_token('dpo', label='t', actor='tester')}"}

    with (
        running_portal(backend.config, tmp_path / "portal.log") as base,
        httpx.Client(base_url=base, headers=bearer, timeout=30) as c,
    ):
        before = _grant(c, rec["id"])
        first = c.get(before, headers={"Range": "bytes=0-99"})
        assert first.status_code == 206 and first.headers["content-type"] == "audio/wav"
        assert first.headers["content-range"] == f"bytes 0-99/{len(wav)}"

        [done] = compressor(services, grace_s=GRACE_S).drain()
        assert done.state == "old-pending", done
        shown = c.get(f"/api/v1/recordings/{rec['id']}").json()
        assert shown["format"] == "opus"

        # The grant opened on the WAV still reads the WAV: same length, the same bytes.
        later = c.get(before, headers={"Range": "bytes=1000-1999"})
        assert later.status_code == 206, later.text
        assert later.headers["content-type"] == "audio/wav"
        assert later.headers["content-range"] == f"bytes 1000-1999/{len(wav)}"
        assert later.content == wav[1000:2000]
        whole = c.get(before)
        assert whole.status_code == 200 and whole.content == wav

        # A new grant plays what is stored now.
        after = _grant(c, rec["id"])
        opus = c.get(after)
        assert opus.status_code == 200 and opus.headers["content-type"] == "audio/ogg"
        assert opus.content.startswith(b"OggS") and len(opus.content) * 5 < len(wav)

        # Past the grace the WAV is deleted: the old grant says so instead of serving Opus.
        [gone] = compressor(services, after_s=GRACE_S + 1, grace_s=GRACE_S).drain()
        assert gone.state == "compressed", gone
        assert count_objects(backend, services) == 1
        old = c.get(before, headers={"Range": "bytes=0-99"})
        assert old.status_code == 410, old.text
        assert old.headers["content-type"] == "application/problem+json"
        assert "open the recording again" in old.json()["detail"]
        assert c.get(after, headers={"Range": "bytes=0-3"}).content == b"OggS"
