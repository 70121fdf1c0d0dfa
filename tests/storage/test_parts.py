"""The seekable framing of audio ciphertext (storage/parts.py): round trips at every size that
matters, seeks at and around part boundaries, and every way of tampering with the parts."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
import tink
from tink import streaming_aead

from storage import parts
from storage.crypto import _TEMPLATE, DataKey
from storage.errors import IntegrityError

P = parts.PART


def _key(rid: str = "rec-1") -> DataKey:
    return DataKey(rid, tink.new_keyset_handle(_TEMPLATE))


def _encrypt(key: DataKey, plain: bytes) -> bytes:
    out = io.BytesIO()
    result = key.encrypt_stream(io.BytesIO(plain), out)
    blob = out.getvalue()
    assert result.plaintext_bytes == len(plain)
    assert result.ciphertext_bytes == len(blob)
    assert result.sha256_plaintext == hashlib.sha256(plain).hexdigest()
    assert result.sha256_ciphertext == hashlib.sha256(blob).hexdigest()
    return blob


def _decrypt(key: DataKey, blob: bytes) -> bytes:
    reader, tap = key.decrypt_stream(io.BytesIO(blob))
    data = reader.read()
    assert tap.sha256.hexdigest() == hashlib.sha256(blob).hexdigest()
    return data


@pytest.mark.parametrize("size", [0, 1, P - 1, P, P + 1, 3 * P + 12345])
def test_round_trip(size: int) -> None:
    key, plain = _key(), os.urandom(size)
    blob = _encrypt(key, plain)
    assert blob.startswith(parts.MAGIC)
    assert _decrypt(key, blob) == plain


def test_a_seek_decrypts_from_the_part_that_holds_the_offset() -> None:
    key, plain = _key(), os.urandom(3 * P + 999)
    blob = _encrypt(key, plain)
    layout = parts.parse_header(blob[: parts.HEADER.size])
    assert layout is not None and layout.part == P
    for offset in (0, 1, P - 1, P, P + 1, 2 * P, 3 * P, 3 * P + 998):
        k = layout.part_of(offset)
        src = io.BytesIO(blob[layout.cipher_offset(k) :])
        reader = key.decrypt_from(src, layout, k)
        skip = offset - k * layout.part
        assert reader.read(skip) == plain[k * P : offset]
        assert reader.read() == plain[offset:], offset


def test_objects_written_as_one_tink_stream_still_decrypt() -> None:
    key, plain = _key(), os.urandom(P + 77)
    out = io.BytesIO()
    primitive = key._primitive
    with primitive.new_encrypting_stream(parts._Uncloseable(out), key.recording_id.encode()) as enc:
        enc.write(plain)
    legacy = out.getvalue()
    assert parts.parse_header(legacy[:16]) is None
    assert _decrypt(key, legacy) == plain


def _parts_of(blob: bytes) -> tuple[bytes, list[bytes]]:
    layout = parts.parse_header(blob[:16])
    assert layout is not None
    body = blob[16:]
    c = layout.cipher_part
    return blob[:16], [body[i : i + c] for i in range(0, len(body), c)]


def _fails(key: DataKey, blob: bytes) -> None:
    with pytest.raises(tink.TinkError):
        _decrypt(key, blob)


def test_tampering_with_the_parts_fails() -> None:
    key, plain = _key(), os.urandom(3 * P + 10)
    head, ps = _parts_of(_encrypt(key, plain))
    assert len(ps) == 4
    _fails(key, head + ps[1] + ps[0] + ps[2] + ps[3])  # swapped
    _fails(key, head + ps[0] + ps[1] + ps[3])  # one dropped from the middle
    _fails(key, head + ps[0] + ps[1] + ps[2])  # cut at a part boundary (the last one dropped)
    _fails(key, head + ps[0] + ps[0] + ps[1] + ps[2] + ps[3])  # repeated
    _fails(key, head + ps[0] + ps[1] + ps[2] + ps[3][:-1])  # cut inside the last part
    _fails(key, head)  # nothing but the header
    other = parts.HEADER.pack(parts.MAGIC, P, parts.HEADER.unpack(head)[2] + 1)
    _fails(key, other + b"".join(ps))  # another layout in the header


def test_another_recordings_key_or_id_cannot_read_it() -> None:
    key = _key("rec-1")
    blob = _encrypt(key, os.urandom(P + 5))
    _fails(_key("rec-1"), blob)  # another key
    same_key_other_id = DataKey("rec-2", key._handle)
    _fails(same_key_other_id, blob)  # the same key bound to another recording


def test_an_impossible_layout_is_refused() -> None:
    with pytest.raises(IntegrityError, match="impossible layout"):
        parts.parse_header(parts.HEADER.pack(parts.MAGIC, 10, 5))


def test_the_measured_part_size_is_the_written_one() -> None:
    probe = tink.new_keyset_handle(_TEMPLATE).primitive(streaming_aead.StreamingAead)
    c = parts.measure(probe)
    key = _key()
    blob = _encrypt(key, os.urandom(2 * P))
    assert len(blob) == 16 + 2 * c
