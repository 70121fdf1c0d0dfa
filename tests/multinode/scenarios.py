"""sipp's caller (tests/telephony/sipp.py) for calls through a record-routing proxy (Kamailio).

The direct caller sends ACK and BYE to the agent's address; through a proxy it must keep the
proxy in the path: it stores the 200's Record-Route set (`rrs`) and sends ACK and BYE to the
agent's Contact (`[next_url]`) with that route set (`[routes]`). sipp itself always sends to
the proxy's address. Each call carries its own case ID: PREFIX-<sipp call number>.
"""

from __future__ import annotations

from pathlib import Path

from tests.telephony.sipp import CallerScenario, Step


def caller_via_proxy(audio: Path, case_prefix: str, talk_ms: int) -> str:
    """Call, stream `audio` (u-law WAV) for talk_ms after the answer, hang up."""
    xml = CallerScenario(audio, [Step(talk_ms, "bye")], case_id=f"{case_prefix}-[call_number]")
    out = xml.xml()
    for old, new in (
        ('<recv response="200" rtd="true"/>', '<recv response="200" rtd="true" rrs="true"/>'),
        ("ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0", "ACK [next_url] SIP/2.0"),
        ("BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0", "BYE [next_url] SIP/2.0"),
    ):
        assert out.count(old) == 1, old
        out = out.replace(old, new)
    # The route set goes right after the request line of the in-dialog requests.
    return out.replace("[next_url] SIP/2.0\n", "[next_url] SIP/2.0\n      [routes]\n")
