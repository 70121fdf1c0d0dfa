"""[metrics] and [logging]: validated at load with the key named; the JSON log formatter."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from callvault.observability.logs import JsonFormatter
from callvault.settings import ConfigError, load_settings


def test_metrics_and_logging_settings(tmp_path: Path) -> None:
    cfg = tmp_path / "callvault.toml"
    cfg.write_text('[metrics]\nport = 9470\nhost = "10.0.0.5"\n\n[logging]\nformat = "json"\n')
    s = load_settings(cfg, environ={"CALLVAULT_METRICS_WORKER_PORT": "9480"})
    assert (s.metrics.host, s.metrics.port, s.metrics.worker_port) == ("10.0.0.5", 9470, 9480)
    assert (s.logging.format, s.logging.level) == ("json", "INFO")
    assert load_settings(None, environ={}, cwd=tmp_path / "empty").metrics.port == 0

    cfg.write_text('[logging]\nformat = "yaml"\n')
    with pytest.raises(ConfigError, match=r"logging\.format = 'yaml'.*'text', 'json'"):
        load_settings(cfg, environ={})
    cfg.write_text("[metrics]\nport = 70000\n")
    with pytest.raises(ConfigError, match=r"metrics\.port = 70000 is out of range"):
        load_settings(cfg, environ={})


def test_json_lines_carry_the_ids_a_message_names() -> None:
    rid = "e1a239ce-f655-46a9-b2f7-46c2485741c9"
    record = logging.LogRecord(
        "telephony.pool", logging.INFO, __file__, 1, "call %s handed over: %s", (rid, "ok"), None
    )
    record.recording_id = rid
    doc = json.loads(JsonFormatter().format(record))
    assert doc["message"] == f"call {rid} handed over: ok"
    assert doc["ids"] == [rid] and doc["recording_id"] == rid
    assert doc["level"] == "INFO" and doc["logger"] == "telephony.pool"
    assert doc["time"].endswith("+00:00")
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = JsonFormatter().format(failed)
    assert "\n" not in line and "ValueError: boom" in json.loads(line)["exc"]
