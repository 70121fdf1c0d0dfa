"""A real portal: `callvault portal` as a subprocess on a free port, polled via /healthz, over
a catalogue holding real recorded calls (espeak-ng speech through the ingest pipeline), on
SQLite + local directory and on PostgreSQL + SeaweedFS."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from callvault.settings import load_settings
from callvault.wiring import Services
from consent.records import store_consent_only
from portal.auth.users import Users
from storage.ingest import IngestRequest
from tests.conftest import CALLVAULT, _s3_toml, write_config
from tests.servers import PostgresServer, S3Server

PASSWORD = "correct horse battery staple"
CALLER = "+44 1277 312 500"
# name -> (role, services, may_download)
PEOPLE = {
    "sup-housing": ("supervisor", ["housing"], False),
    "sup-waste": ("supervisor", ["waste"], False),
    "qa-all": ("qa", None, False),
    "dpo": ("dpo", None, False),
    "auditor": ("auditor", None, False),
    "admin": ("admin", None, False),
    "platform": ("platform", None, False),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    backend: str
    config: Path
    base: str
    log: Path
    housing: str  # recording IDs
    waste: str
    tokens: dict[str, str] = field(default_factory=dict)

    @contextmanager
    def client(self, name: str | None = None) -> Iterator[httpx.Client]:
        """A client logged in as `name` through the real login form (or anonymous)."""
        with httpx.Client(base_url=self.base, follow_redirects=False, timeout=30) as c:
            if name is not None:
                r = login(c, name, PASSWORD)
                if r.status_code != 303:
                    raise AssertionError(f"login as {name}: {r.status_code} {r.text[:300]}")
            yield c


def login(c: httpx.Client, name: str, password: str) -> httpx.Response:
    form = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if token is None:
        raise AssertionError(f"no CSRF token on the login form: {form.text[:300]}")
    r = c.post("/login", data={"name": name, "password": password, "csrf_token": token[1]})
    return r


def csrf(c: httpx.Client, path: str = "/search") -> str:
    page = c.get(path)
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if m is None:
        raise AssertionError(f"no CSRF token on {path}: {page.status_code} {page.text[:300]}")
    return m[1]


def long_call(src: Path, out: Path, loops: int) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops), "-i", str(src), str(out)],
        check=True,
        capture_output=True,
    )
    return out


def _populate(svc: Services, call: Path, short: Path) -> tuple[str, str]:
    pipeline = svc.pipeline()
    consent = {
        "notice": {"id": "customer-service", "version": "3", "language": "en-GB"},
        "notice_seconds_played": 6.2,
        "notice_duration_s": 6.2,
        "notice_completed": True,
        "objection": None,
        "outcome": "recorded",
        "paused_intervals": [
            {"start": None, "end": None, "offset_s": 10.0, "end_offset_s": 16.0, "source": "dtmf"}
        ],
        "ended_by": "caller",
    }
    ids = []
    for call_id, path, service, agent, case in (
        ("call-housing", call, "housing", "alex", "HOUS-1"),
        ("call-waste", short, "waste", "sam", "WASTE-9"),
    ):
        r = pipeline.ingest(
            path,
            IngestRequest(
                call_id=call_id,
                caller=CALLER,
                service=service,
                agent=agent,
                case_ids=(case,),
                consent=consent,
                started_at=datetime(2026, 11, 30, 10, 0, tzinfo=UTC),
            ),
            actor="tester",
        )
        if r.state != "stored":
            raise AssertionError(r.message)
        ids.append(r.recording_id)
    store_consent_only(
        svc.catalogue,
        "call-objected",
        {"call_id": "call-objected", "outcome": "objected", "objection": "dtmf"},
        actor="tester",
    )
    users = Users(svc.catalogue)
    for name, (role, services, download) in PEOPLE.items():
        if name == "admin":
            users.set_password("admin", PASSWORD, actor="tester")
            continue
        users.add(
            name,
            role,
            services=services,
            password=None if role == "platform" else PASSWORD,
            may_download=download,
            actor="tester",
        )
    return ids[0], ids[1]


@contextmanager
def running_portal(config: Path, log: Path, scheme: str = "http") -> Iterator[str]:
    """`callvault portal` on a free port, output to `log`; yields its base URL once /healthz
    answers, and stops it (SIGTERM, then SIGKILL) afterwards."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [CALLVAULT, "--config", str(config), "portal", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=config.parent,
            env=env,
        )
    base = f"{scheme}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"portal exited {proc.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(base + "/healthz", timeout=2, verify=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"portal did not answer /healthz:\n{log.read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def long_speech(speech_call: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 45 s of two-sided speech: long enough that seeking asks for a later range."""
    return long_call(speech_call, tmp_path_factory.mktemp("long") / "long.wav", 10)


@pytest.fixture(
    scope="module",
    params=["sqlite-fs", pytest.param("postgres-s3", marks=pytest.mark.postgres_s3)],
)
def site(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    long_speech: Path,
    speech_call: Path,
) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp(f"portal-{request.param}")
    call = long_speech
    # Compressed at ingest: the form a recording has once a worker has compressed it (Opus).
    compressed = '[audio]\ncompress = "at-ingest"\n\n'
    if request.param == "sqlite-fs":
        config = write_config(tmp, compressed)
    elif request.param == "sqlite-wav":
        # Stored as WAV and ~2 minutes long (~4 MB): big enough that Chromium seeks by a new
        # Range request instead of waiting for its download to get there.
        config = write_config(tmp, '[audio]\nformat = "wav"\n')
        call = long_call(long_speech, tmp / "longer.wav", 2)
    else:
        pg: PostgresServer = request.getfixturevalue("pg_server")
        s3: S3Server = request.getfixturevalue("s3_server")
        name = "p" + uuid.uuid4().hex[:12]
        url = pg.create_database(name)
        config = write_config(
            tmp, compressed + f'[database]\nurl = "{url}"\n\n' + _s3_toml(s3, name)
        )
    svc = Services.build(load_settings(config, environ={}))
    try:
        svc.init()
        housing, waste = _populate(svc, call, speech_call)
        tokens = {
            n: Users(svc.catalogue).issue_token(n, label="tests", actor="tester") for n in PEOPLE
        }
    finally:
        svc.close()
    log = tmp / "portal.log"
    with running_portal(config, log) as base:
        yield Site(request.param, config, base, log, housing, waste, tokens)
