"""The catalogue's PostgreSQL engine gives up on a database that does not answer."""

from __future__ import annotations

import socket
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from storage.catalogue.db import CONNECT_TIMEOUT_S, make_engine


def test_a_silent_database_host_fails_within_the_connect_timeout() -> None:
    """A listener that completes the TCP handshake and then says nothing (a hung database host,
    a half-open firewall): without a connect timeout, libpq would wait for ever."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        engine = make_engine(f"postgresql+psycopg://callvault@127.0.0.1:{port}/callvault")
        started = time.monotonic()
        with pytest.raises(OperationalError, match="timeout"), engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        took = time.monotonic() - started
        engine.dispose()
    assert CONNECT_TIMEOUT_S - 1 <= took < CONNECT_TIMEOUT_S + 25, took


def test_a_connect_timeout_in_the_url_wins() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        url = f"postgresql+psycopg://callvault@127.0.0.1:{port}/callvault?connect_timeout=2"
        engine = make_engine(url)
        started = time.monotonic()
        with pytest.raises(OperationalError), engine.connect():
            pass
        took = time.monotonic() - started
        engine.dispose()
    assert 1 <= took < CONNECT_TIMEOUT_S, took  # 2 s, not the default
