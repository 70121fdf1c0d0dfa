"""S3 outages during compression: the job is tried again later and nothing is lost (the
committed WAV stays the recording until a compact version is committed)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from callvault.wiring import Services
from storage.catalogue.models import CompressionJob
from tests.conftest import Backend
from tests.storage.test_compression import LEASE_S, compressor, ingest, no_grace
from tests.storage.test_resilience import count_objects


class Relay:
    """A TCP relay in front of the S3 server that can be cut (an outage mid-job)."""

    def __init__(self, target: str) -> None:
        u = urlsplit(target)
        self.target = (u.hostname or "127.0.0.1", u.port or 80)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.up = True
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                s.close()

    def cut(self) -> None:
        self.up = False
        for c in self.conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()
        self.conns.clear()

    def close(self) -> None:
        self.cut()
        self.listener.close()


def test_s3_outage_during_compression_is_retried_later_and_loses_nothing(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    if backend.s3 is None:
        pytest.skip("an outage of the S3 server")
    no_grace(backend)
    rec = ingest(backend, speech_call)
    rid = rec["id"]

    # The store unreachable from the start: the worker says so, the job waits.
    down = {"CALLVAULT_S3_ENDPOINT_URL": "http://127.0.0.1:9"}
    r = backend.cli("worker", "--once", env=down)
    assert r.returncode == 1 and "retry" in r.stderr and "unreachable" in r.stderr
    assert "Traceback" not in r.stderr
    with services.catalogue.session() as s:
        job = s.get(CompressionJob, rid)
        assert job is not None and job.state == "queued" and job.last_error
        assert job.claim_token is None  # released, not left leased

    # The store goes away after the download, before the upload (through a relay we cut).
    relay = Relay(backend.settings.s3.endpoint_url or "")
    try:
        via = Services.build(backend.reload(CALLVAULT_S3_ENDPOINT_URL=relay.url))

        def outage(step: str, _rid: str) -> None:
            if step == "compressed":
                relay.cut()

        try:
            [r2] = compressor(via, after_s=3600, on_step=outage).drain()
        finally:
            via.close()
        assert r2.state == "retry" and "unreachable" in r2.message
    finally:
        relay.close()
    view = services.recordings().show(rid)
    assert view["format"] == "wav" and view["sha256_ciphertext"] == rec["sha256_ciphertext"]
    assert count_objects(backend, services) == 1  # nothing half-written is left
    assert not any((services.spool.root / "compress").iterdir())
    out = tmp_path / "during.wav"
    backend.cli("recordings", "export", rid, "--out", str(out), "--reason", "t", check=True)

    # Back up: the next worker finishes the job, once.
    [done] = compressor(services, after_s=4 * 3600 + LEASE_S).drain()
    assert done.state == "compressed"
    assert json.loads(backend.cli("recordings", "show", rid, "--json").stdout)["format"] == "opus"
    assert count_objects(backend, services) == 1
