"""The key-wrapping port. A kek_id is `<mode>:<name>`, so a row says which wrapper opens it."""

from __future__ import annotations

import abc

from storage.errors import KeyUnavailableError


class KeyWrapper(abc.ABC):
    """Wraps data keysets under one mode's key-encryption keys.

    `wrap` uses the current KEK; `unwrap` takes the KEK named by the row, so rotated and
    unrotated rows are both readable while old KEKs are still present.
    """

    mode: str

    @property
    @abc.abstractmethod
    def current_kek_id(self) -> str:
        """The KEK that new data keys are wrapped under."""

    @abc.abstractmethod
    def wrap(self, keyset: bytes, associated_data: bytes) -> bytes: ...

    @abc.abstractmethod
    def unwrap(self, kek_id: str, wrapped: bytes, associated_data: bytes) -> bytes: ...

    @abc.abstractmethod
    def can_unwrap(self, kek_id: str) -> bool:
        """Whether this node holds what it takes to unwrap under kek_id (hpke recorders don't)."""

    @abc.abstractmethod
    def rotate(self, new_key: str | None = None) -> str:
        """Make a new current KEK (or adopt `new_key`, for KMS) and return its kek_id."""

    @abc.abstractmethod
    def list_keks(self) -> list[str]: ...


def split_kek_id(kek_id: str) -> tuple[str, str]:
    mode, sep, name = kek_id.partition(":")
    if not sep or not name:
        raise KeyUnavailableError(f"malformed key-encryption key id {kek_id!r}")
    return mode, name
