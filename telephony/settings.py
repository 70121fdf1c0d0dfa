"""The SIP agent's settings: declared here once, loaded by callvault.settings from [sip]."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class SipSettings:
    """The SIP agent: where it listens, where it sends callers, how big it may grow."""

    host: str = "127.0.0.1"
    port: int = 5070
    transports: tuple[str, ...] = ("udp", "tcp")
    rtp_port: int = 40000
    max_calls: int = 300
    queue_uri: str = "sip:queue@127.0.0.1:5080"
    case_id_header: str = "X-Case-ID"
    control_port: int = 5071
    control_token_file: Path = Path("var/run/control.json")
    apology_file: Path | None = None  # None: consent.notices.DEFAULT_APOLOGY
    pjsua_log_level: int = 1
    # Finished calls merged and committed at once. Each hand-off mostly waits on fsyncs,
    # which take long while hundreds of recorders write: with 2, a steady ~500 calls fell
    # minutes behind (p95 200 s); with 8, p95 18 s (bench/README.md, SIP capacity).
    handoff_workers: int = 8
    # Flood protection: new INVITEs per source address (token bucket), answered calls whose
    # ACK never comes are hung up after ack_timeout_s.
    invite_rate_per_min: int = 120
    invite_burst: int = 20
    ack_timeout_s: float = 5.0
    # Addresses or CIDR networks that may send INVITEs (the trunk, Kamailio); others get 403.
    # Empty: every source.
    allowed_sources: tuple[str, ...] = ()
    # Trusted fronts (Kamailio, the trunk) that bypass the INVITE flood guard: one bucket per
    # source would throttle every caller behind them to invite_rate_per_min together. They
    # must do their own limiting (Kamailio's pike). Empty: every source is limited.
    flood_exempt: tuple[str, ...] = ()
    # SIP over TLS (issue 13): a TLS listener on tls_port (0: none) with the node's certificate
    # and key; tls_ca verifies the peer (the front's client certificate when
    # tls_verify_client, the queue's server certificate when tls_verify_server). The queue leg
    # follows queue_uri (`;transport=tls` or `sips:` goes over TLS).
    tls_port: int = 0
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    tls_verify_client: bool = False
    tls_verify_server: bool = True
    # SRTP (SDES keys, so only safe over TLS) on both legs: "mandatory" refuses plain RTP
    # offers and requires TLS signalling; "optional" uses SRTP when the peer offers it.
    srtp: Literal["off", "optional", "mandatory"] = "off"
