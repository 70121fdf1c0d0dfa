"""[sip] flood_exempt: a trusted front (Kamailio, the trunk) bypasses the per-source INVITE
flood guard; every other source is still limited. sipp floods from one exempt and one
non-exempt loopback address against the real agent."""

from __future__ import annotations

from pathlib import Path

from tests.telephony.conftest import RunningAgent
from tests.telephony.sipp import start_sipp, unacked_invite_flood


def _flood(agent: RunningAgent, local_ip: str) -> None:
    p = start_sipp(
        unacked_invite_flood(),
        agent.workdir,
        f"flood-{local_ip}",
        target=agent.target,
        calls=12,
        rate=50,
        local_ip=local_ip,
        timeout_s=20,
    )
    p.communicate(timeout=40)


def test_an_exempt_front_is_not_throttled_and_others_still_are(
    agent: RunningAgent, voices: dict[str, Path]
) -> None:
    agent.stop()
    cfg = agent.config.read_text()
    extra = (
        "invite_burst = 3\ninvite_rate_per_min = 6\nack_timeout_s = 2\n"
        'flood_exempt = ["127.0.0.3/32"]\n'
    )
    agent.config.write_text(cfg.replace("max_calls = 10\n", "max_calls = 10\n" + extra))
    agent.start()
    _flood(agent, "127.0.0.3")
    _flood(agent, "127.0.0.2")
    agent.wait_idle()
    log = agent.log.read_text()
    assert "possible INVITE flood from 127.0.0.2" in log, log[-3000:]
    lines = [line for line in log.splitlines() if "INVITE(s) refused over the rate limit" in line]
    assert not any("127.0.0.3" in line for line in lines), lines
