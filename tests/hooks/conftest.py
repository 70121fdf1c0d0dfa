"""A real portal (`callvault portal` subprocess) with the hooks, on SQLite + directory and on
PostgreSQL + SeaweedFS, with a platform user, a supervisor and two notices chosen by the
dialled number."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from callvault.settings import load_settings
from callvault.wiring import Services
from consent.do_not_record import DoNotRecordList
from consent.notices import DEFAULT_APOLOGY, DEFAULT_NOTICE
from portal.auth.users import Users
from storage.catalogue.models import HookUpload
from tests.conftest import _s3_toml, write_config
from tests.portal.conftest import free_port, running_portal
from tests.servers import PostgresServer, S3Server

HOUSING_LINE = "01277000100"
LISTED = "01277 312 999"  # on the do-not-record list, added in national form


def hooks_toml(port: int, extra: str = "") -> str:
    return f"""
[portal]
port = {port}

[hooks]
max_upload_mb = 8
{extra}

[[consent.notices]]
id = "housing"
version = "4"
language = "en-GB"
file = "{DEFAULT_APOLOGY}"
dialled = "{HOUSING_LINE}"
service = "housing"

[[consent.notices]]
id = "customer-service"
version = "2026-11"
language = "en-GB"
file = "{DEFAULT_NOTICE}"
dialled = "*"
"""


@dataclass
class HookSite:
    backend: str
    config: Path
    base: str
    log: Path
    tokens: dict[str, str]

    def client(self, who: str = "pbx") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=60)

    def services(self) -> Services:
        return Services.build(load_settings(self.config, environ={}))


def make_config(request: pytest.FixtureRequest, tmp: Path, backend: str, extra: str = "") -> Path:
    toml = hooks_toml(free_port(), extra)
    if backend == "sqlite-fs":
        return write_config(tmp, toml)
    pg: PostgresServer = request.getfixturevalue("pg_server")
    s3: S3Server = request.getfixturevalue("s3_server")
    name = "h" + uuid.uuid4().hex[:12]
    url = pg.create_database(name)
    return write_config(tmp, f'[database]\nurl = "{url}"\n\n' + _s3_toml(s3, name) + toml)


def prepare(config: Path) -> dict[str, str]:
    svc = Services.build(load_settings(config, environ={}))
    try:
        svc.init()
        users = Users(svc.catalogue)
        users.add("pbx", "platform", services=None, password=None, actor="tester")
        users.add("sup", "supervisor", services=None, password=None, actor="tester")
        users.add("dpo", "dpo", services=None, password=None, actor="tester")
        DoNotRecordList(svc.catalogue, svc.hasher).add(LISTED, reason="asked", actor="tester")
        return {n: users.issue_token(n, label="t", actor="tester") for n in ("pbx", "sup", "dpo")}
    finally:
        svc.close()


@pytest.fixture(
    scope="module",
    params=["sqlite-fs", pytest.param("postgres-s3", marks=pytest.mark.postgres_s3)],
)
def hook_site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HookSite]:
    tmp = tmp_path_factory.mktemp(f"hooks-{request.param}")
    config = make_config(request, tmp, request.param)
    tokens = prepare(config)
    log = tmp / "portal.log"
    with running_portal(config, log) as base:
        yield HookSite(request.param, config, base, log, tokens)


@pytest.fixture(scope="session")
def sox_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-second stereo 8 kHz WAV made with sox, as a platform's recorder writes one."""
    out = tmp_path_factory.mktemp("sox") / "call.wav"
    subprocess.run(
        ["sox", "-n", "-r", "8000", "-c", "2", "-b", "16", str(out), "synth", "4", "sine", "440"],
        check=True,
        capture_output=True,
    )
    return out


def upload(
    c: httpx.Client,
    manifest: Mapping[str, object],
    audio: bytes,
    key: str | None = None,
    filename: str = "call.wav",
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    files: dict[str, tuple[str | None, bytes | str, str]] = {
        "manifest": (None, json.dumps(manifest), "application/json"),
        "audio": (filename, audio, "audio/wav"),
    }
    return c.post("/hooks/v1/recordings", files=files, headers=headers)


@dataclass
class StalledUpload:
    """A multipart upload whose body stops after `cut` bytes of audio until `go` is set, sent
    from a thread; `claimed()` waits until the server has taken its Idempotency-Key."""

    site: HookSite
    manifest: Mapping[str, object]
    audio: bytes
    key: str
    cut: int
    go: threading.Event = field(default_factory=threading.Event)
    outcome: list[httpx.Response | httpx.TransportError] = field(default_factory=list)
    boundary: str = "stalledboundary01"

    def body(self) -> Iterator[bytes]:
        b = self.boundary
        yield (
            f'--{b}\r\nContent-Disposition: form-data; name="manifest"\r\n\r\n'
            f"{json.dumps(self.manifest)}\r\n--{b}\r\n"
            'Content-Disposition: form-data; name="audio"; filename="a.wav"\r\n\r\n'
        ).encode() + self.audio[: self.cut]
        self.go.wait(60)
        yield self.audio[self.cut :] + f"\r\n--{b}--\r\n".encode()

    def send(self) -> None:
        ctype = f"multipart/form-data; boundary={self.boundary}"
        hdrs = {"Idempotency-Key": self.key, "Content-Type": ctype}
        try:
            with self.site.client() as c:
                self.outcome.append(
                    c.post("/hooks/v1/recordings", content=self.body(), headers=hdrs)
                )
        except httpx.TransportError as exc:
            self.outcome.append(exc)

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self.send)
        t.start()
        return t

    def claimed(self, svc: Services, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with svc.catalogue.session() as s:
                q = select(HookUpload).where(HookUpload.idempotency_key == self.key)
                if s.scalars(q).first():
                    return
            time.sleep(0.05)
        raise AssertionError(f"the server never took Idempotency-Key {self.key}")
