"""The agent's control socket: several clients at once, idle and slow clients dropped, a
bounded request, one-line errors (issue 8 item 4) and a constant-time token check."""

from __future__ import annotations

import contextlib
import errno
import json
import socket
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from telephony import control
from telephony.control import _PooledHTTPServer
from tests.telephony.conftest import RunningAgent


def control_info(agent: RunningAgent) -> dict[str, object]:
    doc: dict[str, object] = json.loads((agent.workdir / "var/run/control.json").read_text())
    return doc


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    return s


def test_idle_and_slow_clients_do_not_block_calls_list(agent: RunningAgent) -> None:
    port = int(str(control_info(agent)["port"]))
    # More idle connections than a one-at-a-time server could outwait within the client's
    # 15 s timeout (each would hold it for READ_TIMEOUT_S), and one that trickles bytes.
    idle = [connect(port) for _ in range(4)]
    slow = connect(port)
    slow.sendall(b"GET /calls HTTP/1.0\r\n")
    try:
        for _ in range(3):
            r = agent.cli("calls", "list", "--json", check=False)
            assert r.returncode == 0, r.stderr
            assert json.loads(r.stdout) == []
            # Keeps the request incomplete: a per-read timeout alone would never fire. (The
            # agent may have dropped it already.)
            with contextlib.suppress(OSError):
                slow.sendall(b"X")
    finally:
        for s in [*idle, slow]:
            s.close()
    log = agent.log.read_text()
    assert "Traceback" not in log and "BrokenPipeError" not in log


def test_idle_connection_is_closed_by_the_server(agent: RunningAgent) -> None:
    port = int(str(control_info(agent)["port"]))
    with connect(port) as s:
        s.sendall(b"GET /calls HTTP/1.0\r\n")  # and never the rest
        try:
            data = s.recv(1024)  # our own 30 s timeout would raise TimeoutError: a failure
        except ConnectionResetError:
            data = b""
    assert data == b"" or data.startswith(b"HTTP/1.0 408")


def test_oversized_request_is_refused_in_one_line(agent: RunningAgent) -> None:
    port = int(str(control_info(agent)["port"]))
    with connect(port) as s:
        s.sendall(b"GET /calls HTTP/1.0\r\n")
        try:
            for _ in range(control.MAX_REQUEST_BYTES // 1000 + 2):
                s.sendall(b"X-Pad: " + b"a" * 993 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the agent stopped reading once the budget was spent
        try:
            reply = s.recv(65536)
        except ConnectionResetError:
            reply = b""
    assert reply == b"" or reply.startswith(b"HTTP/1.0 431")
    r = agent.cli("calls", "list", "--json", check=False)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in agent.log.read_text()


def test_wrong_token_and_dead_agent_are_one_line_errors(
    agent: RunningAgent, tmp_path: Path
) -> None:
    token_file = agent.workdir / "var/run/control.json"
    info = control_info(agent)
    token_file.write_text(json.dumps({**info, "token": "not-the-token"}))
    r = agent.cli("calls", "list", check=False)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == ["callvault: missing or wrong control token"]
    token_file.write_text("{not json")
    r = agent.cli("calls", "pause", "x", check=False)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "unreadable" in r.stderr
    token_file.write_text(json.dumps(info))
    assert agent.cli("calls", "list", check=False).returncode == 0
    agent.stop()
    token_file.write_text(json.dumps(info))  # a stale file left by a killed agent
    r = agent.cli("calls", "list", check=False)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "is not answering" in r.stderr and "Traceback" not in r.stderr


def test_a_control_port_in_use_is_named_not_hidden() -> None:
    """HTTPServer closes itself when binding fails; that must not raise an AttributeError
    that hides the real cause (the port is taken)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError) as caught:
            _PooledHTTPServer(
                ("127.0.0.1", port), BaseHTTPRequestHandler, workers=1, initializer=lambda: None
            )
        assert caught.value.errno == errno.EADDRINUSE
