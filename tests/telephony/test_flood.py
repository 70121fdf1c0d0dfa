"""The INVITE flood guard, without pjsua2: a token bucket per source, logs once a minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telephony.flood import FloodGuard

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_burst_then_the_configured_rate_per_source() -> None:
    g = FloodGuard(rate_per_min=60, burst=3)
    assert [g.admit("10.0.0.1", T0) for _ in range(5)] == [True, True, True, False, False]
    assert g.admit("10.0.0.2", T0)  # another source has its own bucket
    assert not g.admit("10.0.0.1", at(0.5))
    assert g.admit("10.0.0.1", at(1.01)) and not g.admit("10.0.0.1", at(1.02))
    assert [g.admit("10.0.0.1", at(100)) for _ in range(4)] == [True, True, True, False]


def test_a_flood_is_logged_once_per_source_per_minute() -> None:
    g = FloodGuard(rate_per_min=60, burst=1)
    lines = [g.refused("10.0.0.9", at(i * 0.01)) for i in range(500)]
    lines += [g.unacked("10.0.0.9", at(10))]
    said = [line for line in lines if line]
    assert len(said) == 1 and "10.0.0.9" in said[0] and "1 INVITE(s) refused" in said[0]
    later = g.refused("10.0.0.9", at(61))
    assert later is not None and "500 INVITE(s) refused" in later
    assert "1 answered call(s) never ACKed" in later
    assert g.refused("10.0.0.8", at(61)) is not None  # each source has its own minute


def test_idle_sources_are_forgotten() -> None:
    g = FloodGuard(rate_per_min=60, burst=2)
    for i in range(1000):
        g.admit(f"10.1.{i // 250}.{i % 250}", T0)
    g.admit("10.9.9.9", at(120))
    assert len(g._buckets) == 1


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        FloodGuard(rate_per_min=0, burst=1)
