"""Envelope encryption: a fresh Tink StreamingAead keyset (AES256-GCM-HKDF, 1 MB segments) per
recording, the recording ID as associated data, the keyset wrapped by a KeyWrapper. Audio is
written in seekable parts (storage/parts.py); objects written before that are one Tink stream,
and both are read.

No cryptography is implemented here: Tink does the encryption, this module only wires streams
and checksums around it.
"""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

import tink
from tink import secret_key_access, streaming_aead

from storage import parts
from storage.errors import IntegrityError, KeyUnavailableError
from storage.keys.base import KeyWrapper, split_kek_id

streaming_aead.register()
_TEMPLATE = streaming_aead.streaming_aead_key_templates.AES256_GCM_HKDF_1MB
CHUNK = 1 << 20


@functools.cache
def _cipher_part() -> int:
    """The ciphertext length of one full part under _TEMPLATE, measured once per process."""
    probe = tink.new_keyset_handle(_TEMPLATE).primitive(streaming_aead.StreamingAead)
    return parts.measure(probe)


class _HashingReader(io.RawIOBase):
    """Reads through to `source`, hashing and counting what passes."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self.sha256 = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._source.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.sha256.update(data)
        self.count += n
        return n


class _Prefixed(io.RawIOBase):
    """`head`, then the rest of `rest`."""

    def __init__(self, head: bytes, rest: io.RawIOBase) -> None:
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        return self._rest.readinto(buffer)


class _HashingWriter(io.RawIOBase):
    def __init__(self, sink: BinaryIO) -> None:
        self._sink = sink
        self.sha256 = hashlib.sha256()
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._sink.write(data)
        self.sha256.update(data)
        self.count += len(data)
        return len(data)

    def close(self) -> None:  # Tink closes its destination; the file's owner closes the file.
        super().close()


@dataclass(frozen=True)
class EncryptResult:
    sha256_plaintext: str
    sha256_ciphertext: str
    plaintext_bytes: int
    ciphertext_bytes: int


class DataKey:
    """One recording's data keyset, in memory only while it is being used."""

    def __init__(self, recording_id: str, handle: tink.KeysetHandle) -> None:
        self.recording_id = recording_id
        self._primitive = handle.primitive(streaming_aead.StreamingAead)
        self._handle = handle

    @property
    def _ad(self) -> bytes:
        return self.recording_id.encode()

    def serialize(self) -> bytes:
        return tink.proto_keyset_format.serialize(self._handle, secret_key_access.TOKEN)  # type: ignore[no-any-return]

    def encrypt_file(self, src: Path, dst: BinaryIO) -> EncryptResult:
        with open(src, "rb") as fh:
            return self.encrypt_stream(fh, dst)

    def encrypt_stream(self, src: IO[bytes], dst: BinaryIO) -> EncryptResult:
        """Encrypt everything src yields (a file, or a pipe from ffmpeg) into dst, in seekable
        parts (storage/parts.py)."""
        plain = hashlib.sha256()
        n_plain = 0

        def seen(chunk: bytes) -> None:
            nonlocal n_plain
            plain.update(chunk)
            n_plain += len(chunk)

        sink = _HashingWriter(dst)
        parts.encrypt(self._primitive, self._ad, src, sink, _cipher_part(), seen)
        return EncryptResult(plain.hexdigest(), sink.sha256.hexdigest(), n_plain, sink.count)

    def decrypt_stream(self, source: BinaryIO) -> tuple[BinaryIO, _HashingReader]:
        """A plaintext reader and the hashing tap on the ciphertext (to verify at the end)."""
        tap = _HashingReader(source)
        head = parts.read_exact(tap, parts.HEADER.size)
        layout = parts.parse_header(head)
        if layout is not None:
            reader = parts.PartsReader(self._primitive, self._ad, tap, layout)
            return io.BufferedReader(reader, CHUNK), tap
        # a single Tink stream, written before the parts: give Tink back the bytes we peeked
        legacy = io.BufferedReader(_Prefixed(head, tap), CHUNK)
        return self._primitive.new_decrypting_stream(legacy, self._ad), tap

    def decrypt_from(self, source: BinaryIO, layout: parts.Layout, first: int) -> BinaryIO:
        """Plaintext from part `first` on, `source` being the object from that part's start
        (a ranged read): what a seek needs."""
        reader = parts.PartsReader(self._primitive, self._ad, source, layout, first)
        return io.BufferedReader(reader, CHUNK)

    def seal(self, value: str, label: str) -> bytes:
        """Encrypt a small field (e.g. the caller number) so that crypto-shredding covers it."""
        out = io.BytesIO()
        sink = _HashingWriter(out)
        with self._primitive.new_encrypting_stream(sink, self._ad + b"/" + label.encode()) as enc:
            enc.write(value.encode())
        return out.getvalue()

    def unseal(self, blob: bytes, label: str) -> str:
        try:
            stream = self._primitive.new_decrypting_stream(
                io.BytesIO(blob), self._ad + b"/" + label.encode()
            )
            return stream.read().decode()  # type: ignore[no-any-return]
        except tink.TinkError:
            raise IntegrityError(
                f"recording {self.recording_id}: a sealed field failed to open"
            ) from None


class Envelope:
    """Creates and opens data keys. `active` wraps new keys; `readers` unwrap by kek_id mode."""

    def __init__(self, active: KeyWrapper, readers: Mapping[str, KeyWrapper] | None = None) -> None:
        self.active = active
        self.readers = {active.mode: active, **(readers or {})}

    def new_data_key(self, recording_id: str) -> tuple[DataKey, str, bytes]:
        key = DataKey(recording_id, tink.new_keyset_handle(_TEMPLATE))
        kek_id = self.active.current_kek_id
        return key, kek_id, self.active.wrap(key.serialize(), recording_id.encode())

    def _wrapper_for(self, kek_id: str) -> KeyWrapper:
        mode, _ = split_kek_id(kek_id)
        if mode not in self.readers:
            raise KeyUnavailableError(f"no {mode} key wrapper configured on this node for {kek_id}")
        return self.readers[mode]

    def open_data_key(self, recording_id: str, kek_id: str, wrapped: bytes) -> DataKey:
        plain = self._wrapper_for(kek_id).unwrap(kek_id, wrapped, recording_id.encode())
        try:
            handle = tink.proto_keyset_format.parse(plain, secret_key_access.TOKEN)
        except tink.TinkError:
            raise KeyUnavailableError(f"recording {recording_id}: data key is unreadable") from None
        return DataKey(recording_id, handle)

    def rewrap(self, recording_id: str, kek_id: str, wrapped: bytes) -> tuple[str, bytes]:
        """Re-wrap under the active KEK without touching the audio."""
        plain = self._wrapper_for(kek_id).unwrap(kek_id, wrapped, recording_id.encode())
        return self.active.current_kek_id, self.active.wrap(plain, recording_id.encode())

    def can_open(self, kek_id: str) -> bool:
        mode, _ = split_kek_id(kek_id)
        return mode in self.readers and self.readers[mode].can_unwrap(kek_id)


def raise_integrity(recording_id: str) -> IntegrityError:
    return IntegrityError(
        f"recording {recording_id}: stored object failed verification "
        "(tampered, truncated or not this recording's object); nothing was written"
    )
