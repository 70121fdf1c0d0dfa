"""SIGKILL of the real server (a `callvault portal` subprocess) loses nothing the client was
told was accepted: an upload answered 202 is stored by the start-up resume after a restart;
one cut off mid-body was never accepted, its key is free for the retry."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from storage.catalogue.models import HookUpload, Recording
from tests.conftest import CALLVAULT
from tests.hooks.conftest import HookSite, StalledUpload, make_config, prepare, upload
from tests.hooks.test_uploads import wait_state


def start(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [CALLVAULT, "--config", str(config), "portal", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=config.parent,
            env=env,
        )
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


def kill9(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)


@pytest.fixture
def crash_site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HookSite]:
    config = make_config(request, tmp_path, "sqlite-fs", "answer_within_s = 0")
    tokens = prepare(config)
    port = int(config.read_text().split("port = ")[1].split()[0])
    site = HookSite(
        "sqlite-fs", config, f"http://127.0.0.1:{port}", tmp_path / "portal.log", tokens
    )
    yield site


def long_wav(tmp: Path) -> bytes:
    out = tmp / "long.wav"
    subprocess.run(
        ["sox", "-n", "-r", "8000", "-c", "2", "-b", "16", str(out), "synth", "180", "sine", "300"],
        check=True,
    )
    return out.read_bytes()


def test_an_accepted_upload_survives_sigkill(crash_site: HookSite, tmp_path: Path) -> None:
    port = int(crash_site.base.rsplit(":", 1)[1])
    audio, key = long_wav(tmp_path), uuid.uuid4().hex
    m = {"platform_call_id": "crash-1", "service": "housing"}
    proc = start(crash_site.config, port, crash_site.log)
    try:
        with crash_site.client() as c:
            r = upload(c, m, audio, key)
        kill9(proc)  # at once: the job is still being processed (a 3-minute WAV)
        assert r.status_code == 202, r.text
        rid = r.json()["id"]
        svc = crash_site.services()
        try:
            left = (svc.spool.jobs_dir / rid / "manifest.json").is_file()
        finally:
            svc.close()
        proc = start(crash_site.config, port, crash_site.log)
        with crash_site.client() as c:
            assert wait_state(c, r.json()["status_url"], "stored")["state"] == "stored"
            again = upload(c, m, audio, key)  # the client's retry: the first answer
            assert again.status_code == 202 and again.json()["id"] == rid
    finally:
        proc.terminate()
        proc.wait(30)
    if left:  # the usual case: the kill came before the job finished
        assert f"start-up resume: {rid} stored" in crash_site.log.read_text()
    svc = crash_site.services()
    try:
        with svc.catalogue.session() as s:
            n = s.scalar(
                select(func.count()).select_from(Recording).where(Recording.call_id == "crash-1")
            )
    finally:
        svc.close()
    assert n == 1


def test_an_upload_cut_off_by_sigkill_was_never_accepted(
    crash_site: HookSite, tmp_path: Path
) -> None:
    port = int(crash_site.base.rsplit(":", 1)[1])
    audio, key = long_wav(tmp_path), uuid.uuid4().hex
    m = {"platform_call_id": "crash-2", "service": "housing"}
    first = StalledUpload(crash_site, m, audio, key, cut=len(audio) // 2)
    proc = start(crash_site.config, port, crash_site.log)
    t = first.start()
    try:
        svc = crash_site.services()
        try:
            first.claimed(svc)
            kill9(proc)
            first.go.set()
            t.join(60)
            assert first.outcome and isinstance(first.outcome[0], httpx.TransportError)
            proc = start(crash_site.config, port, crash_site.log)
            with svc.catalogue.session() as s:  # recovered at start-up: the key is free
                assert (
                    s.scalars(select(HookUpload).where(HookUpload.idempotency_key == key)).first()
                    is None
                )
            assert not any((svc.spool.root / "hooks").iterdir())
        finally:
            svc.close()
        with crash_site.client() as c:
            retry = upload(c, m, audio, key)
            assert retry.status_code == 202, retry.text
            assert wait_state(c, retry.json()["status_url"], "stored")["state"] == "stored"
    finally:
        first.go.set()
        proc.terminate()
        proc.wait(30)
    assert "interrupted before it was accepted, dropped" in crash_site.log.read_text()
