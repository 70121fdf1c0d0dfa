"""Caller numbers: one canonical form (E.164) and keyed hashes of it.

Lookups (`recordings list --caller`, the do-not-record list, subject-access searches) go by
HMAC-SHA256 of the E.164 form under a secret kept in the key directory, so the number is never
stored in clear and every spelling of one telephone hashes alike. Parsing and dialling rules
are libphonenumber's (the `phonenumbers` port), never ours.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import importlib.util
import re
import secrets
from pathlib import Path

from storage.errors import KeyUnavailableError, StorageError
from storage.fsutil import atomic_write_bytes

DEFAULT_REGION = "GB"
# What may separate digits in a written number; anything else (letters) is no number.
_VISUAL = re.compile(r"[\s\-./()\[\]]")
_DIGITS = re.compile(r"\+?[0-9]+")
# `"Jo" <sip:...>` and `<tel:...>`: the URI inside the angle brackets.
_ANGLE = re.compile(r"<([^>]*)>")
_REGION = re.compile(r"[A-Z]{2}")


class WithheldCallerError(StorageError):
    """The caller value is no telephone number (withheld, anonymous, letters, empty)."""


def check_region(region: str) -> str:
    """The region if libphonenumber knows it (upper case, e.g. "GB"); StorageError if not.

    Settings call this for every command, so it looks for the region's metadata module
    (`phonenumbers/data/region_GB.py`) rather than importing phonenumbers (about 0.05 CPU-s);
    tests/storage/test_identity.py checks that this agrees with SUPPORTED_REGIONS.
    """
    if not (_REGION.fullmatch(region) and region in _known_regions()):
        raise StorageError(f"unknown telephone region {region!r} (ISO 3166 code such as 'GB')")
    return region


@functools.cache
def _known_regions() -> frozenset[str]:
    spec = importlib.util.find_spec("phonenumbers")
    data = Path(spec.origin).parent / "data" if spec and spec.origin else None
    stems = (p.stem[len("region_") :] for p in data.glob("region_*.py")) if data else ()
    found = {s for s in stems if _REGION.fullmatch(s)}  # not the non-geographic "800", "883"…
    if found:
        return frozenset(found)
    import phonenumbers  # another layout: ask the library itself

    return frozenset(phonenumbers.SUPPORTED_REGIONS)


def number_part(value: str) -> str:
    """The user part of a caller value: what a SIP/tel URI or a display-name form carries."""
    text = value.strip()
    m = _ANGLE.search(text)
    if m:
        text = m.group(1).strip()
    if text.lower().startswith(("sip:", "sips:", "tel:")):
        text = text.split(":", 1)[1]
        text = text.split("@", 1)[0].split(";", 1)[0].split("?", 1)[0]
    return text.strip()


def canonical_number(value: str | None, region: str = DEFAULT_REGION) -> str | None:
    """The E.164 form of a caller value, or None when it is no telephone number (withheld).

    The rule: take the user part of a URI (`tel:`, `sip:`, `<…>`, `"Name" <…>`); strip visual
    separators; anything but digits with an optional leading '+' is withheld. Then parse it
    (a) as written in the default region and (b), when written without '+', as an
    international number ('+' prepended: `441277000013` → +44 1277 000013). The first of
    a-valid, b-valid, a-possible, b-possible wins ("possible" accepts numbers whose length
    fits the region when libphonenumber's metadata does not list the range as "valid");
    neither possible is withheld.
    """
    import phonenumbers

    if value is None:
        return None
    text = _VISUAL.sub("", number_part(value))
    if not _DIGITS.fullmatch(text):
        return None
    candidates = [text] if text.startswith("+") else [text, "+" + text]
    parsed = []
    for cand in candidates:
        try:
            parsed.append(phonenumbers.parse(cand, region))
        except phonenumbers.NumberParseException:
            continue
    for accept in (phonenumbers.is_valid_number, phonenumbers.is_possible_number):
        for num in parsed:
            if accept(num):
                return str(phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164))
    return None


def normalise_number(number: str, region: str = DEFAULT_REGION) -> str:
    """The E.164 form; WithheldCallerError (not echoing the value) when it is no number."""
    e164 = canonical_number(number, region)
    if e164 is None:
        raise WithheldCallerError("the caller is not a telephone number (withheld or invalid)")
    return e164


class CallerHasher:
    """Keyed hashes of E.164 numbers; `region` is the default for numbers written nationally."""

    def __init__(self, key: bytes, region: str = DEFAULT_REGION) -> None:
        if len(key) < 32:
            raise KeyUnavailableError("caller-hash key is shorter than 32 bytes")
        self._key = key
        self.region = region

    @classmethod
    def from_file(cls, path: Path, region: str = DEFAULT_REGION) -> CallerHasher:
        if not path.is_file():
            raise KeyUnavailableError(f"caller-hash key {path} is missing: run `callvault init`")
        return cls(bytes.fromhex(path.read_text().strip()), region)

    @staticmethod
    def create_file(path: Path) -> bool:
        """Create the key if absent; True when created."""
        if path.exists():
            return False
        atomic_write_bytes(path, secrets.token_hex(32).encode())
        path.chmod(0o600)
        return True

    def canonical(self, number: str | None) -> str | None:
        """E.164 in this hasher's default region, or None for a withheld caller."""
        return canonical_number(number, self.region)

    def hash_e164(self, e164: str) -> str:
        return hmac.new(self._key, e164.encode(), hashlib.sha256).hexdigest()

    def hash(self, number: str) -> str:
        """The keyed hash of a number in any spelling; WithheldCallerError when it is none."""
        return self.hash_e164(normalise_number(number, self.region))

    def hash_or_none(self, number: str | None) -> str | None:
        """The keyed hash, or None for a withheld caller (never hashed as if it were one)."""
        e164 = self.canonical(number)
        return None if e164 is None else self.hash_e164(e164)
