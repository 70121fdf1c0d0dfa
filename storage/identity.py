"""Keyed hashes of caller numbers: lookups (list --caller, do-not-record) without storing the
number in clear. HMAC-SHA256 under a secret kept in the key directory."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from pathlib import Path

from storage.errors import KeyUnavailableError, StorageError
from storage.fsutil import atomic_write_bytes

_KEEP = re.compile(r"[^0-9+]")


def normalise_number(number: str) -> str:
    """'+44 (0)1277 312 500' and '+4401277312500' hash alike; SIP URIs keep only the user part."""
    user = number.strip()
    if user.lower().startswith(("sip:", "sips:", "tel:")):
        user = user.split(":", 1)[1].split("@", 1)[0].split(";", 1)[0]
    digits = _KEEP.sub("", user)
    if not digits.lstrip("+"):
        raise StorageError(f"caller number {number!r} has no digits")
    return digits


class CallerHasher:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise KeyUnavailableError("caller-hash key is shorter than 32 bytes")
        self._key = key

    @classmethod
    def from_file(cls, path: Path) -> CallerHasher:
        if not path.is_file():
            raise KeyUnavailableError(f"caller-hash key {path} is missing: run `callvault init`")
        return cls(bytes.fromhex(path.read_text().strip()))

    @staticmethod
    def create_file(path: Path) -> bool:
        """Create the key if absent; True when created."""
        if path.exists():
            return False
        atomic_write_bytes(path, secrets.token_hex(32).encode())
        path.chmod(0o600)
        return True

    def hash(self, number: str) -> str:
        return hmac.new(self._key, normalise_number(number).encode(), hashlib.sha256).hexdigest()
