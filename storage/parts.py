"""Seekable framing of a recording's ciphertext: the plaintext in fixed parts of 1 MiB, each part
a complete Tink StreamingAead ciphertext under the recording's data key, bound by its associated
data to the recording, the layout, its index and whether it is the last.

Why: Tink's Python streams decrypt only from the start, so a seek to 80 % of a 2-hour WAV (the
form a call has until a worker compresses it) meant fetching and decrypting 180 MB first. With
parts, a seek fetches the object from the part that holds the offset (one ranged GET) and
decrypts at most one part it does not need.

No cryptography is implemented here: every part is encrypted and authenticated by Tink. This
module only frames the parts:

    header   b"CVPARTS1" | u32 P (plaintext bytes per part) | u32 C (ciphertext bytes per full part)
    part k   Tink ciphertext of plaintext[k*P:(k+1)*P], associated data
             = recording AD | b"#" | P | C | k | last

Every part but the last holds exactly P plaintext and C ciphertext bytes, so part k begins at
byte 16 + k*C. A part moved, repeated or dropped fails (its index), an object cut at a part
boundary fails (the part read as the last was not sealed as the last), and a header with
another P or C changes every part's associated data. Objects written before this framing are
single Tink streams, which never begin with the magic (Tink's first byte is its header length).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import Any, Protocol

import tink

from storage.errors import IntegrityError

MAGIC = b"CVPARTS1"
HEADER = struct.Struct(">8sII")
PART = 1 << 20  # plaintext bytes per part: a seek decrypts at most this much it does not need


class Primitive(Protocol):
    def new_encrypting_stream(self, dst: Any, ad: bytes) -> Any: ...
    def new_decrypting_stream(self, src: Any, ad: bytes) -> Any: ...


@dataclass(frozen=True)
class Layout:
    part: int  # P
    cipher_part: int  # C

    def part_of(self, offset: int) -> int:
        return offset // self.part

    def cipher_offset(self, index: int) -> int:
        """Where part `index` begins in the object."""
        return HEADER.size + index * self.cipher_part


def parse_header(head: bytes) -> Layout | None:
    """The layout of a parted object from its first 16 bytes; None for a single Tink stream."""
    if len(head) < HEADER.size or head[: len(MAGIC)] != MAGIC:
        return None
    _, p, c = HEADER.unpack(head[: HEADER.size])
    if p <= 0 or c <= p:
        raise IntegrityError(f"parted ciphertext with an impossible layout (P={p}, C={c})")
    return Layout(p, c)


def part_ad(base: bytes, layout: Layout, index: int, last: bool) -> bytes:
    return base + b"#" + struct.pack(">IIQ?", layout.part, layout.cipher_part, index, last)


def read_exact(src: Any, n: int) -> bytes:
    """Up to n bytes, fewer only at the end (pipes and HTTP bodies return short reads)."""
    chunks, left = [], n
    while left > 0:
        chunk = src.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class _Uncloseable(io.RawIOBase):
    """Tink closes the stream it writes to; each part must leave the shared sink open."""

    def __init__(self, sink: Any) -> None:
        self._sink = sink

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return int(self._sink.write(data))


def measure(primitive: Primitive, part: int = PART) -> int:
    """C: the ciphertext length of `part` plaintext bytes under this primitive's key template
    (the writer checks every full part against it, so a wrong C cannot go unnoticed)."""
    out = io.BytesIO()
    with primitive.new_encrypting_stream(_Uncloseable(out), b"measure") as enc:
        enc.write(bytes(part))
    return len(out.getvalue())


def encrypt(
    primitive: Primitive, base_ad: bytes, src: Any, sink: Any, cipher_part: int, on_plain: Any
) -> None:
    """Write the header and every part of what src yields into sink; on_plain(chunk) sees the
    plaintext (for its checksum). Holds at most two parts in memory."""
    layout = Layout(PART, cipher_part)
    sink.write(HEADER.pack(MAGIC, layout.part, layout.cipher_part))
    index, buf = 0, read_exact(src, PART)
    while True:
        nxt = read_exact(src, PART) if len(buf) == PART else b""
        last = not nxt
        before = sink.count
        with primitive.new_encrypting_stream(
            _Uncloseable(sink), part_ad(base_ad, layout, index, last)
        ) as enc:
            enc.write(buf)
        written = sink.count - before
        if len(buf) == PART and written != layout.cipher_part:
            raise IntegrityError(
                f"part {index} became {written} ciphertext bytes, not {layout.cipher_part}"
            )
        on_plain(buf)
        if last:
            return
        index, buf = index + 1, nxt


class PartsReader(io.RawIOBase):
    """Plaintext from part `first` on, read from `source` positioned at that part's start."""

    def __init__(
        self, primitive: Primitive, base_ad: bytes, source: Any, layout: Layout, first: int = 0
    ) -> None:
        self._primitive, self._ad, self._source = primitive, base_ad, source
        self._layout, self._index = layout, first
        self._plain, self._pos = b"", 0
        self._ahead = b""  # one byte read past a full part to learn whether it was the last
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._pos >= len(self._plain):
            if self._done:
                return 0
            self._next_part()
        n = min(len(buffer), len(self._plain) - self._pos)
        buffer[:n] = self._plain[self._pos : self._pos + n]
        self._pos += n
        return n

    def _next_part(self) -> None:
        c = self._layout.cipher_part
        data = self._ahead + read_exact(self._source, c - len(self._ahead))
        self._ahead = read_exact(self._source, 1) if len(data) == c else b""
        last = not self._ahead
        if not data:
            raise tink.TinkError(f"part {self._index} is missing: the object was cut short")
        ad = part_ad(self._ad, self._layout, self._index, last)
        self._plain = self._primitive.new_decrypting_stream(io.BytesIO(data), ad).read()
        if not last and len(self._plain) != self._layout.part:
            raise tink.TinkError(f"part {self._index} holds a short part before the end")
        self._pos, self._index, self._done = 0, self._index + 1, last
