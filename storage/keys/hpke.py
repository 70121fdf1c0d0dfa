"""`hpke` mode: recorders hold only the public key (HPKE X25519/HKDF-SHA256/AES-256-GCM, Tink).

A compromised recorder can wrap new data keys but cannot unwrap any stored one: the private
key file exists only where retrieval runs.
"""

from __future__ import annotations

import tink
from tink import hybrid, secret_key_access

from storage.errors import KeyUnavailableError
from storage.keys.base import KeyWrapper, split_kek_id
from storage.keys.keydir import KeyDirectory

hybrid.register()
_PUBLIC, _PRIVATE = "hpke-public.json", "hpke-private.json"
_TEMPLATE = hybrid.hybrid_key_templates.DHKEM_X25519_HKDF_SHA256_HKDF_SHA256_AES_256_GCM


class HpkeKeyWrapper(KeyWrapper):
    mode = "hpke"

    def __init__(self, keydir: KeyDirectory) -> None:
        self.keydir = keydir

    @property
    def current_kek_id(self) -> str:
        return f"hpke:{self.keydir.require_current('HPKE public key')}"

    def wrap(self, keyset: bytes, associated_data: bytes) -> bytes:
        _, name = split_kek_id(self.current_kek_id)
        data = self.keydir.read(name, _PUBLIC)
        if data is None:
            raise KeyUnavailableError(f"HPKE public key {name} is not in {self.keydir.path}")
        handle = tink.json_proto_keyset_format.parse_without_secret(data.decode())
        enc = handle.primitive(hybrid.HybridEncrypt)
        return enc.encrypt(keyset, associated_data)  # type: ignore[no-any-return]

    def unwrap(self, kek_id: str, wrapped: bytes, associated_data: bytes) -> bytes:
        _, name = split_kek_id(kek_id)
        data = self.keydir.read(name, _PRIVATE)
        if data is None:
            raise KeyUnavailableError(
                f"HPKE private key {name} is not on this node ({self.keydir.path}); "
                "recordings can only be opened where the private key is installed"
            )
        handle = tink.json_proto_keyset_format.parse(data.decode(), secret_key_access.TOKEN)
        try:
            return handle.primitive(hybrid.HybridDecrypt).decrypt(wrapped, associated_data)  # type: ignore[no-any-return]
        except tink.TinkError:
            raise KeyUnavailableError(f"data key does not open under {kek_id}") from None

    def can_unwrap(self, kek_id: str) -> bool:
        return (
            kek_id.startswith("hpke:")
            and self.keydir.read(split_kek_id(kek_id)[1], _PRIVATE) is not None
        )

    def rotate(self, new_key: str | None = None) -> str:
        name = self.keydir.new_name()
        private = tink.new_keyset_handle(_TEMPLATE)
        public = private.public_keyset_handle()
        self.keydir.write(
            name,
            _PRIVATE,
            tink.json_proto_keyset_format.serialize(private, secret_key_access.TOKEN).encode(),
        )
        self.keydir.write(
            name, _PUBLIC, tink.json_proto_keyset_format.serialize_without_secret(public).encode()
        )
        self.keydir.set_current(name)
        return f"hpke:{name}"

    def list_keks(self) -> list[str]:
        return [f"hpke:{n}" for n in self.keydir.names(_PUBLIC)]
