"""sipp as a real SIP peer: a caller (UAC) and the service queue (UAS), both sending RTP.

Scenarios are generated per test: audio comes from a u-law WAV (`rtp_stream`), RFC 4733
digits from sipp's own DTMF captures (`play_pcap_audio`), SIP INFO digits as INFO requests.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.telephony.dtmf_pcap import write_dtmf_pcap

DTMF_DIR = Path("/usr/share/sip-tester")
PCAP_NAMES = {"*": "star", "#": "pound"}

HEADERS = """Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[caller]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>{peer}
      Call-ID: [call_id]
      Max-Forwards: 70
      Contact: <sip:[caller]@[local_ip]:[local_port]>"""


ANSWER_BYE = """  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def dtmf_pcap(digit: str) -> Path:
    return DTMF_DIR / f"dtmf_2833_{PCAP_NAMES.get(digit, digit)}.pcap"


@dataclass
class Step:
    """At `at_ms` after the call is up: send an RFC 4733 digit, a SIP INFO digit, or hang up."""

    at_ms: int
    kind: str  # "dtmf" | "info" | "bye"
    digit: str = ""


@dataclass
class CallerScenario:
    audio: Path  # u-law WAV
    steps: list[Step] = field(default_factory=list)
    caller: str = "+441277312500"
    case_id: str | None = None
    codecs: tuple[tuple[int, str], ...] = ((0, "PCMU/8000"),)
    expect: str = "200"  # or e.g. "488"
    hung_up_by_agent: bool = False  # the agent sends BYE (queue failed, apology played)
    from_uri: str | None = None  # the whole From name-addr, e.g. '<tel:+441277000013>'

    def xml(self) -> str:
        xml = self._xml()
        if self.from_uri is not None:
            xml = xml.replace(
                "From: <sip:[caller]@[local_ip]:[local_port]>", f"From: {self.from_uri}"
            )
        return xml.replace("[caller]", self.caller)

    def _xml(self) -> str:
        fmts = " ".join(str(pt) for pt, _ in self.codecs) + " 101"
        rtpmaps = "\n".join(f"      a=rtpmap:{pt} {name}" for pt, name in self.codecs)
        case = f"\n      X-Case-ID: {self.case_id}" if self.case_id else ""
        invite = f"""
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      {HEADERS.format(peer="")}
      CSeq: 1 INVITE{case}
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=caller 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP {fmts}
{rtpmaps}
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>"""
        ack = f"""
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      {HEADERS.format(peer="[peer_tag_param]")}
      CSeq: 1 ACK
      Content-Length: 0
    ]]>
  </send>"""
        if self.expect != "200":
            body = f'{invite}\n  <recv response="{self.expect}"/>{ack}'
            return _scenario("caller", body)
        body = f'{invite}\n  <recv response="200" rtd="true"/>{ack}\n'
        body += f'  <nop><action><exec rtp_stream="{self.audio},-1,0"/></action></nop>\n'
        elapsed, cseq = 0, 2
        for step in sorted(self.steps, key=lambda s: s.at_ms):
            if step.at_ms > elapsed:
                body += f'  <pause milliseconds="{step.at_ms - elapsed}"/>\n'
                elapsed = step.at_ms
            if step.kind == "dtmf":
                body += (
                    f'  <nop><action><exec play_pcap_audio="{dtmf_pcap(step.digit)}"/>'
                    "</action></nop>\n"
                )
            elif step.kind == "info":
                body += _info(step.digit, cseq)
                cseq += 1
            elif step.kind == "bye":
                body += _bye(cseq)
                return _scenario("caller", body)
        if self.hung_up_by_agent:
            body += "\n" + ANSWER_BYE
        return _scenario("caller", body)


def _info(digit: str, cseq: int) -> str:
    return f"""
  <send retrans="500">
    <![CDATA[
      INFO sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      {HEADERS.format(peer="[peer_tag_param]")}
      CSeq: {cseq} INFO
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={digit}
      Duration=160
    ]]>
  </send>
  <recv response="200"/>
"""


def _bye(cseq: int) -> str:
    return f"""
  <send retrans="500">
    <![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      {HEADERS.format(peer="[peer_tag_param]")}
      CSeq: {cseq} BYE
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
"""


def _scenario(name: str, body: str) -> str:
    return (
        f'<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="{name}">\n{body}\n'
        "</scenario>\n"
    )


@dataclass
class QueueScenario:
    """The service queue: answers (or refuses), sends staff speech, optional staff digits.

    The agent offers telephone-event under its own dynamic payload type (`te_pt`); the answer
    and the generated RFC 4733 packets use the same number.
    """

    audio: Path
    digits: list[tuple[int, str]] = field(default_factory=list)  # (ms after answer, digit)
    refuse_with: int | None = None
    te_pt: int = 101
    hangup_after_ms: int | None = None  # the staff side hangs up (sends BYE) this long after
    ring_ms: int | None = None  # send 180 Ringing, answer this long after it

    def xml(self) -> str:
        reply = """
  <send>
    <![CDATA[
      SIP/2.0 {code}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:queue@[local_ip]:[local_port]>
      {extra}
    ]]>
  </send>"""
        if self.refuse_with:
            body = '  <recv request="INVITE"/>' + reply.format(
                code=f"{self.refuse_with} Busy Here", extra="Content-Length: 0"
            )
            body += '\n  <recv request="ACK"/>'
            return _scenario("queue", body)
        sdp = """Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=queue 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 {pt}
      a=rtpmap:0 PCMU/8000
      a=rtpmap:{pt} telephone-event/8000
      a=fmtp:{pt} 0-15""".replace("{pt}", str(self.te_pt))
        # sipp refuses variables that are never used: capture only when we send BYE.
        capture = """
    <action>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="to"/>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="from"/>
      <ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" assign_to="contact"/>
    </action>
  """
        invite = (
            f'  <recv request="INVITE">{capture}</recv>'
            if self.hangup_after_ms
            else ('  <recv request="INVITE"/>')
        )
        body = invite
        if self.ring_ms is not None:
            body += reply.format(code="180 Ringing", extra="Content-Length: 0")
            body += f'\n  <pause milliseconds="{self.ring_ms}"/>\n'
        body += reply.format(code="200 OK", extra=sdp)
        body += '\n  <recv request="ACK" rtd="true"/>\n'
        body += f'  <nop><action><exec rtp_stream="{self.audio},-1,0"/></action></nop>\n'
        elapsed = 0
        for at, digit in sorted(self.digits):
            if at > elapsed:
                body += f'  <pause milliseconds="{at - elapsed}"/>\n'
                elapsed = at
            pcap = (
                dtmf_pcap(digit)
                if self.te_pt == 101
                else write_dtmf_pcap(
                    Path(tempfile.mkdtemp()) / f"dtmf-{self.te_pt}.pcap", digit, self.te_pt
                )
            )
            body += f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n'
        if self.hangup_after_ms is not None:
            if self.hangup_after_ms > elapsed:
                body += f'  <pause milliseconds="{self.hangup_after_ms - elapsed}"/>\n'
            body += """  <send retrans="500">
    <![CDATA[
      BYE [$contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$to];tag=[pid]SIPpTag01[call_number]
      To: [$from]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
"""
            return _scenario("queue", body)
        body += ANSWER_BYE + "\n"
        return _scenario("queue", body)


def start_sipp(
    scenario_xml: str,
    workdir: Path,
    name: str,
    *,
    target: str | None = None,
    port: int | None = None,
    calls: int = 1,
    rate: float = 1.0,
    service: str = "100",
    extra: tuple[str, ...] = (),
    timeout_s: int = 60,
    local_ip: str = "127.0.0.1",
) -> subprocess.Popen[str]:
    """Run sipp in the background; as UAC when `target` is given, else as UAS on `port`."""
    xml = workdir / f"{name}.xml"
    xml.write_text(scenario_xml)
    media_port = free_port() & ~1  # even RTP port
    cmd = [
        "sipp",
        "-sf",
        str(xml),
        "-i",
        local_ip,
        "-mi",
        local_ip,
        "-mp",
        str(media_port),
        "-m",
        str(calls),
        "-nostdin",
        "-timeout",
        f"{timeout_s}s",
        "-timeout_error",
        "-trace_err",
        "-error_file",
        str(workdir / f"{name}.errors.log"),
        *extra,
    ]
    if port:
        cmd += ["-p", str(port)]
    if target:
        cmd += ["-s", service, "-r", str(rate), "-l", str(calls), target]
    return subprocess.Popen(
        cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def unacked_invite_flood() -> str:
    """A caller that sends INVITE and never ACKs the 200 (nor the 503): a flood's packets."""
    return _scenario(
        "flood",
        f"""
  <send>
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      {HEADERS.format(peer="")}
      CSeq: 1 INVITE
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=flood 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="503" optional="true" next="done"/>
  <recv response="200"/>
  <label id="done"/>""",
    ).replace("[caller]", "+441277999999")
