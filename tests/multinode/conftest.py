"""Kamailio + two callvault agent nodes + callers, each in its own network namespace.

The layout (tests/multinode/netns.py makes the namespaces):

    callers (sipp UAC + the queue, a sipp UAS) ─┐
    kamailio (deploy/kamailio/kamailio.cfg)  ───┼── bridge .1: PostgreSQL, SeaweedFS
    node1, node2 (`callvault agent`)          ───┘

Each node has its own directory (config, var/, spool) and shares the catalogue, the object
store and the keys directory. Every address is on the lab's own /24.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import CALLVAULT, _s3_toml, espeak
from tests.multinode.netns import Host, Lab, lab_unavailable
from tests.servers import PostgresServer, S3Server, start_postgres, start_seaweedfs
from tests.telephony.conftest import voices  # noqa: F401 - the fixture, used below
from tests.telephony.sipp import QueueScenario

KAMAILIO_CFG = Path(__file__).resolve().parents[2] / "deploy/kamailio/kamailio.cfg"
SIP_PORT, QUEUE_PORT, KAMAILIO_PORT = 5070, 5080, 5060
NOTICE = "This call is recorded."


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CALLVAULT_")}


@dataclass
class Node:
    name: str
    host: Host
    workdir: Path
    config: Path
    log: Path
    process: subprocess.Popen[str] | None = None

    @property
    def uri(self) -> str:
        return f"sip:{self.host.ip}:{SIP_PORT}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """callvault for this node's configuration, from the root namespace (the catalogue and
        the store listen on the bridge, which the root namespace holds)."""
        r = subprocess.run(
            [CALLVAULT, "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.workdir,
            env=_env(),
            check=False,
        )
        if r.returncode != 0:
            raise AssertionError(f"callvault {' '.join(args)} on {self.name}: {r.stderr}")
        return r

    def start(self, timeout: float = 60) -> None:
        """`callvault agent` inside the node's namespace; returns once its control socket is
        up (after start-up recovery of the spool)."""
        token = self.workdir / "var/run/control.json"
        token.unlink(missing_ok=True)
        self.process = self.host.popen(
            CALLVAULT,
            "--config",
            str(self.config),
            "agent",
            log=self.log,
            cwd=self.workdir,
            env=_env(),
        )
        deadline = time.monotonic() + timeout
        while not token.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.name} did not start:\n{self.log_tail()}")
            time.sleep(0.1)

    def kill(self) -> float:
        """SIGKILL; returns the wall-clock time it was sent."""
        assert self.process is not None
        at = time.time()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.process = None
        return at

    def log_tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else "<no log>"

    @property
    def calls_dir(self) -> Path:
        return self.workdir / "var/spool/calls"


@dataclass
class Kamailio:
    host: Host
    workdir: Path
    log: Path
    ctl: str
    process: subprocess.Popen[str] | None = None

    @property
    def target(self) -> str:
        return f"{self.host.ip}:{KAMAILIO_PORT}"

    def dispatcher(self) -> dict[str, str]:
        """Each node's URI and its dispatcher flags (AP: active and probed, IP: inactive)."""
        r = self.host.run("kamcmd", "-s", self.ctl, "dispatcher.list", timeout=10)
        uris = re.findall(r"URI:\s*(\S+)", r.stdout)
        flags = re.findall(r"FLAGS:\s*(\S+)", r.stdout)
        return dict(zip(uris, flags, strict=False))

    def lines(self, pattern: str) -> list[re.Match[str]]:
        return list(re.finditer(pattern, self.log.read_text(errors="replace")))

    def routes(self) -> dict[str, list[tuple[str, float]]]:
        """Call-ID → every node it was dispatched to, with Kamailio's own time ($TV(Sn))."""
        out: dict[str, list[tuple[str, float]]] = {}
        for m in self.lines(r"dispatch (\S+) to (\S+) at (\d+\.\d+)"):
            out.setdefault(m.group(1), []).append((m.group(2), float(m.group(3))))
        return out


@dataclass
class Cluster:
    lab: Lab
    kamailio: Kamailio
    nodes: list[Node]
    callers: Host
    pg: PostgresServer
    dbname: str
    workdir: Path
    voices: dict[str, Path]
    sipp: list[subprocess.Popen[str]] = field(default_factory=list)

    def recordings(self) -> list[tuple[str, str, bool, str | None]]:
        """(recording id, call id, complete, case reference) for every recording stored."""
        with self.pg.connect(self.dbname) as conn:
            rows = conn.execute(
                "SELECT r.id, r.call_id, r.complete, c.reference FROM recordings r "
                "LEFT JOIN recording_case_refs l ON l.recording_id = r.id "
                "LEFT JOIN case_refs c ON c.id = l.case_ref_id"
            ).fetchall()
        return [(str(a), str(b), bool(c), d) for a, b, c, d in rows]

    def consent_count(self) -> int:
        with self.pg.connect(self.dbname) as conn:
            row = conn.execute("SELECT count(*) FROM consent_records").fetchone()
        return int(row[0]) if row else 0

    def wait_for(self, what: str, check: object, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not check():  # type: ignore[operator]
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {n.name}\n{n.log_tail(1500)}" for n in self.nodes)
                raise AssertionError(f"{what}: not within {timeout}s\n{tails}")
            time.sleep(0.5)

    def sipp_argv(self, xml: str, name: str, *args: str) -> list[str]:
        path = self.workdir / f"{name}.xml"
        path.write_text(xml)
        return [
            "sipp",
            "-sf",
            str(path),
            "-i",
            self.callers.ip,
            "-mi",
            self.callers.ip,
            "-nostdin",
            "-trace_err",
            "-error_file",
            str(self.workdir / f"{name}.errors.log"),
            *args,
        ]

    def caller(
        self, xml: str, name: str, *, calls: int, rate: float, limit: int
    ) -> subprocess.Popen[str]:
        """sipp UAC in the callers' namespace, calling service 100 through Kamailio; SIP and
        RTP ports of its own (the namespace's port space is the lab's alone)."""
        n = len(self.sipp)
        argv = self.sipp_argv(
            xml,
            name,
            "-mp",
            str(40000 + 4000 * n),
            "-p",
            str(5062 + 2 * n),
            "-m",
            str(calls),
            "-r",
            str(rate),
            "-l",
            str(limit),
            "-timeout",
            "240s",
            "-trace_stat",
            "-stf",
            str(self.workdir / f"{name}.csv"),
            "-s",
            "100",
            self.kamailio.target,
        )
        proc = self.callers.popen(*argv, log=self.workdir / f"{name}.log", cwd=self.workdir)
        self.sipp.append(proc)
        return proc


def _notice(d: Path) -> Path:
    return espeak(NOTICE, d / "notice.wav")


def _node_config(
    node: Host,
    proxy: Host,
    queue: Host,
    db_url: str,
    s3: S3Server,
    bucket: str,
    keys: Path,
    notice: Path,
) -> str:
    return f"""
[database]
url = "{db_url}"

{_s3_toml(s3, bucket)}
[keys]
dir = "{keys}"

[sip]
host = "{node.ip}"
port = {SIP_PORT}
transports = ["udp"]
rtp_port = 20000
max_calls = 80
queue_uri = "sip:queue@{queue.ip}:{QUEUE_PORT}"
control_port = 5071
# Behind Kamailio every INVITE comes from one source, the proxy: the per-source flood guard
# would throttle the whole trunk (limit floods at the proxy instead: docs/multinode.md).
invite_rate_per_min = 60000
invite_burst = 1000
# Only Kamailio may send INVITEs: a caller dialling a node directly is refused (403).
allowed_sources = ["{proxy.ip}/32"]

[consent]
objection_grace_s = 1

[[consent.notices]]
id = "multinode"
version = "1"
language = "en-GB"
file = "{notice}"
dialled = "*"
service = "waste"
"""


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
    voices: dict[str, Path],  # noqa: F811 - the fixture imported above
) -> Iterator[Cluster]:
    reason = lab_unavailable()
    if reason:
        pytest.skip(f"multi-node tests: {reason}")
    for tool in ("kamailio", "kamcmd", "sipp"):
        if shutil.which(tool) is None:
            pytest.fail(f"`{tool}` is not installed; `make test` installs it (system-deps.sh)")
    root = tmp_path_factory.mktemp("multinode")
    lab = Lab(["kamailio", "node1", "node2", "callers"])
    pg: PostgresServer | None = None
    s3: S3Server | None = None
    try:
        pg = start_postgres(root / "pg", host=lab.gateway)
        s3 = start_seaweedfs(root / "weed", host=lab.gateway)
        dbname = "multinode"
        db_url = pg.create_database(dbname)
        bucket = "mn" + uuid.uuid4().hex[:10]
        keys = root / "keys"
        notice = _notice(root)
        nodes = []
        for role in ("node1", "node2"):
            wd = root / role
            wd.mkdir()
            config = wd / "callvault.toml"
            config.write_text(
                _node_config(
                    lab[role], lab["kamailio"], lab["callers"], db_url, s3, bucket, keys, notice
                )
            )
            nodes.append(Node(role, lab[role], wd, config, wd / "agent.log"))
        for node in nodes:  # migrations and keys once, then idempotent for the second
            node.cli("init")
        kwd = root / "kamailio"
        kwd.mkdir()
        dlist = kwd / "dispatcher.list"
        dlist.write_text("".join(f"1 {n.uri} 8\n" for n in nodes))
        ctl = f"unix:{kwd / 'ctl.sock'}"
        kam = Kamailio(lab["kamailio"], kwd, kwd / "kamailio.log", ctl)
        cluster = Cluster(lab, kam, nodes, lab["callers"], pg, dbname, root, voices)
        queue = cluster.sipp_argv(
            QueueScenario(voices["staff"]).xml(),
            "queue",
            "-mp",
            "30000",
            "-p",
            str(QUEUE_PORT),
            "-timeout",
            "900s",
        )
        cluster.sipp.append(lab["callers"].popen(*queue, log=root / "queue.log", cwd=root))
        for node in nodes:
            node.start()
        kam.process = kam.host.popen(
            "kamailio",
            "-DD",
            "-E",
            "-f",
            str(KAMAILIO_CFG),
            "-l",
            f"udp:{kam.host.ip}:{KAMAILIO_PORT}",
            "-Y",
            str(kwd),
            "-P",
            str(kwd / "kamailio.pid"),
            "-w",
            str(kwd),
            "-A",
            f'DISPATCHER_LIST="{dlist}"',
            "-A",
            f'CTL_SOCKET="{ctl}"',
            "-A",
            "DS_PING_INTERVAL=1",
            log=kam.log,
        )
        cluster.wait_for(
            "Kamailio sees both nodes answer OPTIONS",
            lambda: (
                kam.process is not None
                and kam.process.poll() is None
                and sorted(kam.dispatcher().values()) == ["AP", "AP"]
            ),
            60,
        )
        if kam.process.poll() is not None:
            raise AssertionError(kam.log.read_text()[-3000:])
        yield cluster
    finally:
        lab.close()  # sipp, Kamailio, the agents; then the namespaces and links
        if s3 is not None:
            s3.stop()
        if pg is not None:
            pg.stop()
