"""RFC 4733 telephone-event packets as a pcap for sipp's play_pcap_audio, with any payload
type (sipp's bundled captures use 101; pjsua offers its own dynamic number)."""

from __future__ import annotations

import struct
from pathlib import Path

EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}


def _udp_frame(payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", 4000, 4000, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        0,
        0,
        64,
        17,
        0,
        bytes([127, 0, 0, 1]),
        bytes([127, 0, 0, 1]),
    )
    eth = b"\x00" * 12 + b"\x08\x00"
    return eth + ip + udp


def write_dtmf_pcap(
    path: Path, digit: str, payload_type: int, *, ssrc: int = 0x4D544D46, duration_ms: int = 160
) -> Path:
    """One key press: progress packets every 20 ms, then three end packets."""
    event = EVENTS[digit]
    steps = duration_ms // 20
    packets = []
    ts = 160_000
    for i in range(steps + 3):
        end = i >= steps
        dur = min(i + 1, steps) * 160
        rtp = struct.pack(
            "!BBHII", 0x80, payload_type | (0x80 if i == 0 else 0), 1000 + i, ts, ssrc
        )
        body = struct.pack("!BBH", event, (0x80 if end else 0) | 10, dur)
        packets.append((i * 20_000, rtp + body))
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # Ethernet link type
    for usec, payload in packets:
        frame = _udp_frame(payload)
        out += struct.pack("<IIII", 1_700_000_000, usec, len(frame), len(frame)) + frame
    path.write_bytes(out)
    return path
