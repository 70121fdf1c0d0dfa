"""[sip] allowed_sources: which addresses may send the agent INVITEs (the SIP refusal itself is
tested through Kamailio and a caller in another namespace: tests/multinode)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from callvault.settings import load_settings
from storage.clock import utcnow
from telephony.allowlist import SourceAllowlist
from telephony.errors import TelephonyError


def test_empty_allows_every_source() -> None:
    assert SourceAllowlist(()).admits("192.0.2.7")


def test_addresses_and_networks() -> None:
    allow = SourceAllowlist(("192.0.2.10", "198.51.100.0/24", "2001:db8::/32"))
    assert allow.admits("192.0.2.10") and not allow.admits("192.0.2.11")
    assert allow.admits("198.51.100.200") and not allow.admits("198.51.101.1")
    assert allow.admits("[2001:db8::5]") and not allow.admits("2001:db9::5")
    assert not allow.admits("not-an-address")


def test_a_bad_entry_is_refused_by_name() -> None:
    with pytest.raises(TelephonyError, match=r"'10\.0\.0\.300/8'"):
        SourceAllowlist(("10.0.0.1", "10.0.0.300/8"))


def test_refusals_logged_once_a_minute_per_source() -> None:
    allow, now = SourceAllowlist(("192.0.2.10",)), utcnow()
    assert allow.refused("192.0.2.99", now)
    assert allow.refused("192.0.2.99", now + timedelta(seconds=30)) is None
    assert allow.refused("192.0.2.98", now + timedelta(seconds=30))
    assert allow.refused("192.0.2.99", now + timedelta(seconds=61))


def test_setting_loads_from_toml(tmp_path: Path) -> None:
    config = tmp_path / "callvault.toml"
    config.write_text('[sip]\nallowed_sources = ["192.0.2.10", "198.51.100.0/24"]\n')
    settings = load_settings(config, environ={})
    assert settings.sip.allowed_sources == ("192.0.2.10", "198.51.100.0/24")
    config.write_text("[sip]\n")
    assert load_settings(config, environ={}).sip.allowed_sources == ()
