"""`local` mode: the KEK is a Tink AES256-GCM keyset in a key file (development, single node)."""

from __future__ import annotations

import tink
from tink import aead, secret_key_access

from storage.errors import KeyUnavailableError
from storage.keys.base import KeyWrapper, split_kek_id
from storage.keys.keydir import KeyDirectory

aead.register()
_SUFFIX = "aead.json"


class LocalKeyWrapper(KeyWrapper):
    mode = "local"

    def __init__(self, keydir: KeyDirectory) -> None:
        self.keydir = keydir
        self._cache: dict[str, aead.Aead] = {}

    @property
    def current_kek_id(self) -> str:
        return f"local:{self.keydir.require_current('local key-encryption key')}"

    def _aead(self, kek_id: str) -> aead.Aead:
        _, name = split_kek_id(kek_id)
        if name not in self._cache:
            data = self.keydir.read(name, _SUFFIX)
            if data is None:
                raise KeyUnavailableError(
                    f"key-encryption key {kek_id} is not in {self.keydir.path}"
                )
            handle = tink.json_proto_keyset_format.parse(data.decode(), secret_key_access.TOKEN)
            self._cache[name] = handle.primitive(aead.Aead)
        return self._cache[name]

    def wrap(self, keyset: bytes, associated_data: bytes) -> bytes:
        return self._aead(self.current_kek_id).encrypt(keyset, associated_data)  # type: ignore[no-any-return]

    def unwrap(self, kek_id: str, wrapped: bytes, associated_data: bytes) -> bytes:
        try:
            return self._aead(kek_id).decrypt(wrapped, associated_data)  # type: ignore[no-any-return]
        except tink.TinkError:
            raise KeyUnavailableError(f"data key does not open under {kek_id}") from None

    def can_unwrap(self, kek_id: str) -> bool:
        return (
            kek_id.startswith("local:")
            and self.keydir.read(split_kek_id(kek_id)[1], _SUFFIX) is not None
        )

    def rotate(self, new_key: str | None = None) -> str:
        name = self.keydir.new_name()
        handle = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM)
        self.keydir.write(
            name,
            _SUFFIX,
            tink.json_proto_keyset_format.serialize(handle, secret_key_access.TOKEN).encode(),
        )
        self.keydir.set_current(name)
        return f"local:{name}"

    def list_keks(self) -> list[str]:
        return [f"local:{n}" for n in self.keydir.names(_SUFFIX)]
