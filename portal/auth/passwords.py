"""argon2id password hashes (argon2-cffi), and the one-time passwords we hand out."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from portal.errors import BadInput

MIN_LENGTH = 12
_hasher = PasswordHasher()  # argon2id with argon2-cffi's RFC 9106 low-memory profile
# Verified when the name is unknown, so a miss costs as long as a wrong password.
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    check_strength(password)
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise BadInput(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > 1024:
        raise BadInput("a password may have at most 1024 characters")


def one_time_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, 120 bits
