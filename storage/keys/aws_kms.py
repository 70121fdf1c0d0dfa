"""`aws-kms` mode: data keysets are wrapped by AWS KMS Encrypt/Decrypt through boto3.

The recording ID is the KMS encryption context, so a wrapped key cannot be moved to another row.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from storage.errors import KeyUnavailableError
from storage.keys.base import KeyWrapper, split_kek_id


class AwsKmsKeyWrapper(KeyWrapper):
    mode = "aws-kms"

    def __init__(
        self,
        key_id: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        client: Any | None = None,
    ) -> None:
        self.key_id = key_id
        self._client: Any = client or boto3.session.Session().client(
            "kms", region_name=region, endpoint_url=endpoint_url
        )

    @property
    def current_kek_id(self) -> str:
        return f"aws-kms:{self.key_id}"

    @staticmethod
    def _context(associated_data: bytes) -> dict[str, str]:
        return {"callvault:recording": associated_data.decode()}

    def wrap(self, keyset: bytes, associated_data: bytes) -> bytes:
        try:
            r = self._client.encrypt(
                KeyId=self.key_id,
                Plaintext=keyset,
                EncryptionContext=self._context(associated_data),
            )
        except (ClientError, BotoCoreError) as exc:
            raise KeyUnavailableError(
                f"KMS key {self.key_id} could not wrap a data key: {exc}"
            ) from exc
        return r["CiphertextBlob"]  # type: ignore[no-any-return]

    def unwrap(self, kek_id: str, wrapped: bytes, associated_data: bytes) -> bytes:
        _, key_id = split_kek_id(kek_id)
        try:
            r = self._client.decrypt(
                CiphertextBlob=wrapped,
                KeyId=key_id,
                EncryptionContext=self._context(associated_data),
            )
        except (ClientError, BotoCoreError) as exc:
            raise KeyUnavailableError(
                f"KMS key {key_id} could not unwrap the data key: {exc}"
            ) from exc
        return r["Plaintext"]  # type: ignore[no-any-return]

    def can_unwrap(self, kek_id: str) -> bool:
        return kek_id.startswith("aws-kms:")

    def rotate(self, new_key: str | None = None) -> str:
        if not new_key:
            raise KeyUnavailableError("aws-kms rotation needs the new KMS key id (--kms-key-id)")
        self.key_id = new_key
        return self.current_kek_id

    def list_keks(self) -> list[str]:
        return [self.current_kek_id]
