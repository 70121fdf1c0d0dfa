"""A control port already in use stops `callvault agent` and `callvault serve` with one line
naming the port and where it is set, exit 1, and no "unexpected OSError"."""

from __future__ import annotations

import socket

from callvault.settings import load_settings
from tests.telephony.conftest import RunningAgent


def _error_line(agent: RunningAgent, *args: str) -> str:
    r = agent.cli(*args, check=False)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and "unexpected" not in r.stderr, r.stderr
    return r.stderr.strip().splitlines()[-1]


def test_a_control_port_in_use_is_named_with_its_setting(agent: RunningAgent) -> None:
    agent.stop()
    port = load_settings(agent.config, environ={}).sip.control_port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        where = f"control socket cannot listen on 127.0.0.1:{port}"
        line = _error_line(agent, "agent")
        assert line.startswith("callvault: ") and where in line, line
        assert "([sip] control_port): Address already in use" in line, line
        line = _error_line(agent, "agent", "--control-port", str(port))
        assert where in line and "(--control-port)" in line, line
        line = _error_line(agent, "serve", "--no-workers", "--no-portal")
        assert where in line and "[sip] control_port" in line, line
