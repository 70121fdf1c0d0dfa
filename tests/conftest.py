"""Shared fixtures: every storage test runs on SQLite + local directory and on a throwaway
PostgreSQL + SeaweedFS (S3 over HTTP through boto3), both started here, not assumed."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from callvault.settings import Settings, load_settings
from callvault.wiring import Services
from storage.audio import merge_legs
from tests.servers import PostgresServer, S3Server, start_postgres, start_seaweedfs

CALLVAULT = str(Path(sys.executable).parent / "callvault")


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    server = start_postgres(tmp_path_factory.mktemp("pg"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_seaweedfs(tmp_path_factory.mktemp("weed"))
    yield server
    server.stop()


@dataclass
class Backend:
    """One backend pair, configured through a real callvault.toml in the test's directory."""

    name: str
    config: Path
    settings: Settings
    s3: S3Server | None = None

    def cli(
        self,
        *args: str,
        check: bool = False,
        env: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run the installed `callvault` console script against this backend."""
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}
        full_env.update(env or {})
        r = subprocess.run(
            [CALLVAULT, "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            cwd=self.config.parent,
            check=False,
        )
        if check and r.returncode != 0:
            raise AssertionError(f"callvault {' '.join(args)} exited {r.returncode}:\n{r.stderr}")
        return r

    def reload(self, **env: str) -> Settings:
        return load_settings(self.config, environ=env)


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def portal_toml() -> str:
    """A [portal] section on a free port: `serve` starts the portal, and a fixed 8080 would
    collide with another test's (or the machine's) portal."""
    return f"\n[portal]\nport = {free_tcp_port()}\n"


def write_config(tmp: Path, extra: str = "") -> Path:
    config = tmp / "callvault.toml"
    config.write_text(extra if "[portal]" in extra else extra + portal_toml())
    return config


def _s3_toml(s3: S3Server, bucket: str) -> str:
    return (
        '[store]\nbackend = "s3"\n\n'
        f'[s3]\nendpoint_url = "{s3.endpoint_url}"\nbucket = "{bucket}"\n'
        f'region = "{s3.region}"\naccess_key_id = "{s3.access_key}"\n'
        f'secret_access_key = "{s3.secret_key}"\npath_style = true\ncreate_bucket = true\n'
        "connect_timeout_s = 2\nmax_attempts = 1\n"
    )


@pytest.fixture(params=["sqlite-fs", pytest.param("postgres-s3", marks=pytest.mark.postgres_s3)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite-fs":
        config = write_config(tmp_path)
        return Backend("sqlite-fs", config, load_settings(config, environ={}))
    pg: PostgresServer = request.getfixturevalue("pg_server")
    s3: S3Server = request.getfixturevalue("s3_server")
    name = "t" + uuid.uuid4().hex[:12]
    url = pg.create_database(name)
    config = write_config(tmp_path, f'[database]\nurl = "{url}"\n\n' + _s3_toml(s3, name))
    return Backend("postgres-s3", config, load_settings(config, environ={}), s3)


@pytest.fixture
def services(backend: Backend) -> Iterator[Services]:
    svc = Services.build(backend.settings)
    svc.init()
    yield svc
    svc.close()


def espeak(text: str, out: Path, voice: str = "en-gb", rate: int = 8000) -> Path:
    """Real speech, resampled to telephony rate with ffmpeg."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed; `make test` installs it")
    raw = out.with_suffix(".raw.wav")
    subprocess.run(
        ["espeak-ng", "-v", voice, "-w", str(raw), text], check=True, capture_output=True
    )
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(raw), "-ar", str(rate), "-ac", "1", str(out)],
        check=True,
        capture_output=True,
    )
    raw.unlink()
    return out


@pytest.fixture(scope="session")
def speech_call(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stereo 8 kHz call: caller speech left, staff speech right (different lengths)."""
    d = tmp_path_factory.mktemp("speech")
    left = espeak("I would like to report a missed bin collection on Ongar Road.", d / "caller.wav")
    right = espeak(
        "Thank you. I have logged the missed collection for tomorrow morning.",
        d / "staff.wav",
        voice="en-us",
    )
    merge_legs(left, right, d / "call.wav")
    return d / "call.wav"
