"""The throwaway PostgreSQL / SeaweedFS servers from ``servers.py`` really work."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import botocore.exceptions
import psycopg
import pytest

from tests import servers
from tests.servers import PostgresServer, S3Server, start_postgres, start_seaweedfs

pytestmark = pytest.mark.postgres_s3


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    server = start_postgres(tmp_path_factory.mktemp("pg"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_seaweedfs(tmp_path_factory.mktemp("s3"))
    try:
        yield server
    finally:
        server.stop()


def _psycopg_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def test_postgres_select_one(pg: PostgresServer) -> None:
    assert pg.url == f"postgresql+psycopg://postgres@127.0.0.1:{pg.port}/callvault_test"
    with psycopg.connect(_psycopg_url(pg.url)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('fsync', 'listen_addresses', 'full_page_writes', 'synchronous_commit')"
            ).fetchall()
        )
    assert settings == {
        "fsync": "off",
        "full_page_writes": "off",
        "synchronous_commit": "off",
        "listen_addresses": "127.0.0.1",
    }


def test_postgres_create_database(pg: PostgresServer) -> None:
    url = pg.create_database("fresh_db")
    assert url.endswith(f":{pg.port}/fresh_db")
    with psycopg.connect(_psycopg_url(url)) as conn:
        assert conn.execute("SELECT current_database(), 1").fetchone() == ("fresh_db", 1)


def test_s3_versioning(s3: S3Server) -> None:
    client = s3.client()
    client.create_bucket(Bucket="versioned")
    client.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    assert client.get_bucket_versioning(Bucket="versioned")["Status"] == "Enabled"
    ids = {
        client.put_object(Bucket="versioned", Key="k", Body=body)["VersionId"]
        for body in (b"one", b"two")
    }
    assert len(ids) == 2
    assert client.get_object(Bucket="versioned", Key="k")["Body"].read() == b"two"
    listed = client.list_object_versions(Bucket="versioned").get("Versions", [])
    assert len(listed) == 2 and {v["VersionId"] for v in listed} == ids
    for version_id in ids:
        client.delete_object(Bucket="versioned", Key="k", VersionId=version_id)
    after = client.list_object_versions(Bucket="versioned")
    assert after.get("Versions", []) == [] and after.get("DeleteMarkers", []) == []


def test_s3_delete_objects(s3: S3Server) -> None:
    client = s3.client()
    client.create_bucket(Bucket="plain")
    for key in ("a", "b", "c"):
        client.put_object(Bucket="plain", Key=key, Body=key.encode())
    result = client.delete_objects(
        Bucket="plain", Delete={"Objects": [{"Key": "a"}, {"Key": "b"}], "Quiet": False}
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == ["a", "b"]
    assert not result.get("Errors")
    assert [o["Key"] for o in client.list_objects_v2(Bucket="plain")["Contents"]] == ["c"]


def test_s3_has_room_for_every_tests_bucket(s3: S3Server) -> None:
    """Each bucket takes a volume of its own; `weed mini` auto-sized its ceiling from free disk
    (78 volumes on CI's disk) and the suite's later postgres-s3 tests all failed with
    InternalError. The suite makes a few hundred buckets: the master must have room for them,
    and a bucket past the old ceiling must still take a write."""
    master = f"http://127.0.0.1:{s3.ports['master']}/dir/status"
    with urllib.request.urlopen(master, timeout=10) as r:
        topology = json.load(r)["Topology"]
    assert topology["Max"] >= 1000, topology
    client = s3.client()
    for i in range(100):  # past 78, the ceiling that failed
        client.create_bucket(Bucket=f"room-{i:03d}")
        client.put_object(Bucket=f"room-{i:03d}", Key="k", Body=b"x")
    assert client.get_object(Bucket="room-099", Key="k")["Body"].read() == b"x"


@pytest.mark.parametrize(
    ("access", "secret"),
    [
        ("callvault-test-access", "wrong-secret"),
        ("no-such-access-key", "callvault-test-secret-not-a-real-secret"),
    ],
)
def test_s3_wrong_credentials_refused(s3: S3Server, access: str, secret: str) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        s3.client(access_key=access, secret_key=secret).list_buckets()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def _pids_mentioning(text: str) -> list[int]:
    """Live (non-zombie) processes whose command line mentions ``text``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            continue
        if text in cmdline and state != "Z":
            found.append(int(proc.name))
    return found


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_stop_leaves_no_processes(tmp_path_factory: pytest.TempPathFactory) -> None:
    pg_dir, s3_dir = tmp_path_factory.mktemp("pgstop"), tmp_path_factory.mktemp("s3stop")
    pg = start_postgres(pg_dir)
    try:
        s3 = start_seaweedfs(s3_dir)
    finally:
        pg.stop()
    s3.stop()
    assert _pids_mentioning(str(pg_dir.resolve())) == []
    assert _pids_mentioning(str(s3_dir.resolve())) == []
    assert s3.process.poll() is not None
    assert not any(_port_open(p) for p in [pg.port, *s3.ports.values()])


def test_missing_postgres_binaries_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(servers, "PG_BIN", tmp_path / "no-such-bin")
    with pytest.raises(RuntimeError, match=r"binaries missing: .*no-such-bin/initdb"):
        start_postgres(tmp_path / "pg")
