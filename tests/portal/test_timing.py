"""The Server-Timing header's parser (bench/portal.py reads the server's own figure with it)."""

from __future__ import annotations

import pytest

from portal.timing import app_duration_ms


@pytest.mark.parametrize(
    ("header", "ms"),
    [
        ("app;dur=12.5", 12.5),
        ("db;dur=3, app;dur=0.4", 0.4),
        ('app;desc="x";dur=7', 7.0),
        ("app", None),
        ("app;dur=soon", None),
        ("db;dur=3", None),
        ("", None),
        (None, None),
    ],
)
def test_app_duration(header: str | None, ms: float | None) -> None:
    assert app_duration_ms(header) == ms
