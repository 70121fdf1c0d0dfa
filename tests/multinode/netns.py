"""Test hosts as Linux network namespaces on a private bridge (iproute2, run as root).

`Lab` creates one namespace per host, each joined to one bridge in the root namespace by a
veth pair, on a /24 under 10.213.0.0/16 that no interface or route of the machine overlaps.
The bridge holds the subnet's .1 (the servers the root namespace runs, PostgreSQL and
SeaweedFS, listen there); hosts get .11 upwards. No namespace has a default route: traffic
can only reach the lab's own addresses. `close()` ends the processes started in the lab and
removes the namespaces and links, and runs at exit if a test forgot to. A run killed outright
(SIGKILL, a CI timeout) cannot clean up: its names carry its pid, and the next lab removes the
namespaces and links of labs whose process is gone.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUPERNET = ipaddress.IPv4Network("10.213.0.0/16")
_OPEN: list[Lab] = []


@atexit.register
def _close_all() -> None:
    for lab in list(_OPEN):
        lab.close()


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


def lab_unavailable() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs as root)"
    return None


def used_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the machine has an address in or a route to."""
    nets = []
    text = (
        _ip("-4", "-o", "addr", "show").stdout + _ip("-4", "route", "show", "table", "all").stdout
    )
    for m in re.finditer(r"(?<![\d.])(\d+\.\d+\.\d+\.\d+(?:/\d+)?)", text):
        try:
            nets.append(ipaddress.ip_network(m.group(1), strict=False))
        except ValueError:
            continue
    return [n for n in nets if isinstance(n, ipaddress.IPv4Network)]


# This module's names: namespace cv<token>-<role>, bridge cvb<token>, veth cv<token><i>h/n.
_NAME = re.compile(r"cv(?:b([0-9a-f]{6})[0-9a-f]|([0-9a-f]{6})[0-9a-f](?:-[a-z0-9]+|\d+[hn]))")


def _lab_pid(name: str) -> int | None:
    m = _NAME.fullmatch(name)
    return int(m.group(1) or m.group(2), 16) if m else None


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def remove_stale_labs() -> None:
    """Namespaces and links of labs whose test process died without closing them."""
    for line in _ip("netns", "list").stdout.splitlines():
        ns = line.split()[0] if line.split() else ""
        pid = _lab_pid(ns)
        if pid is None or _alive(pid):
            continue
        for p in _ip("netns", "pids", ns, check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(p), signal.SIGKILL)  # left in that dead lab's own namespace
        _ip("netns", "del", ns, check=False)
    for m in re.finditer(r"^\d+: (cv\w+)[@:]", _ip("-o", "link").stdout, re.M):
        pid = _lab_pid(m.group(1))
        if pid is not None and not _alive(pid):
            _ip("link", "del", m.group(1), check=False)


def free_subnet() -> ipaddress.IPv4Network:
    """A /24 under 10.213.0.0/16 overlapping nothing the machine uses (default routes aside)."""
    used = [n for n in used_networks() if n.prefixlen > 0]
    candidates = list(SUPERNET.subnets(new_prefix=24))[1:-1]
    for _ in range(50):
        net = candidates[secrets.randbelow(len(candidates))]
        if not any(net.overlaps(u) for u in used):
            return net
    raise RuntimeError("no free /24 under 10.213.0.0/16")


@dataclass
class Host:
    """One namespace: a name, one address on the lab's subnet, its processes."""

    role: str
    netns: str
    ip: str
    lab: Lab = field(repr=False)

    def argv(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *cmd]

    def run(self, *cmd: str, timeout: float = 60, **kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*cmd), capture_output=True, text=True, timeout=timeout, check=False, **kw
        )

    def popen(self, *cmd: str, log: Path, **kw: Any) -> subprocess.Popen[str]:
        """Start cmd in this namespace (`ip netns exec` execs it: the pid is the command's),
        output appended to log; the lab ends it on close()."""
        with log.open("a") as out:
            proc = subprocess.Popen(
                self.argv(*cmd),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                **kw,
            )
        self.lab.processes.append(proc)
        return proc


class Lab:
    """Namespaces for the given roles on one bridge; see the module docstring."""

    def __init__(self, roles: list[str]) -> None:
        remove_stale_labs()
        # The creator's pid (6 hex digits: pid_max is at most 2**22) and one random digit.
        self.token = f"{os.getpid():06x}{secrets.token_hex(1)[0]}"
        self.subnet = free_subnet()
        addrs = list(self.subnet.hosts())
        self.gateway = str(addrs[0])  # the bridge's address, in the root namespace
        self.bridge = f"cvb{self.token}"
        self.hosts: dict[str, Host] = {}
        self.processes: list[subprocess.Popen[Any]] = []
        self._links: list[str] = []
        _OPEN.append(self)
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            self._links.append(self.bridge)
            _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for i, role in enumerate(roles):
                self._add_host(role, str(addrs[10 + i]), i)
        except BaseException:
            self.close()
            raise

    def _add_host(self, role: str, ip: str, i: int) -> None:
        ns, outer, inner = f"cv{self.token}-{role}", f"cv{self.token}{i}h", f"cv{self.token}{i}n"
        _ip("netns", "add", ns)
        self.hosts[role] = Host(role, ns, ip, self)
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        self._links.append(outer)
        _ip("link", "set", inner, "netns", ns)
        _ip("link", "set", outer, "master", self.bridge, "up")
        _ip("-n", ns, "link", "set", inner, "name", "eth0")
        _ip("-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")

    def __getitem__(self, role: str) -> Host:
        return self.hosts[role]

    @staticmethod
    def stop(proc: subprocess.Popen[Any], timeout: float = 20) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def close(self) -> None:
        """Every process started here, then anything left in the namespaces, then the links."""
        for proc in self.processes:
            self.stop(proc)
        for host in self.hosts.values():
            pids = _ip("netns", "pids", host.netns, check=False).stdout.split()
            for pid in pids:  # only processes inside this lab's own namespaces
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            deadline = time.monotonic() + 5
            while _ip("netns", "pids", host.netns, check=False).stdout.split():
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            _ip("netns", "del", host.netns, check=False)
        for link in self._links:
            if _ip("link", "show", link, check=False).returncode == 0:
                _ip("link", "del", link, check=False)
        self.hosts.clear()
        self._links.clear()
        if self in _OPEN:
            _OPEN.remove(self)
