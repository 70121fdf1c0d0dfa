"""Log lines as JSON objects (`[logging] format = "json"`), for a log shipper.

Each line: time (UTC, ISO 8601), level, logger, message, and the IDs the message names
(`ids`: call, recording and job IDs are UUIDs) so lines can be joined by ID. Telephone numbers
are never logged in the first place (the agent logs flow IDs, the ingest recording IDs); this
formatter adds no field that could carry one.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from callvault.settings import LoggingSettings

_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_EXTRA = ("call_id", "flow_id", "recording_id", "job")


class JsonFormatter(logging.Formatter):
    """One JSON object per record; exceptions as a single `exc` string."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        doc: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        ids = list(dict.fromkeys(_UUID.findall(message)))
        if ids:
            doc["ids"] = ids
        for key in _EXTRA:
            value = getattr(record, key, None)
            if isinstance(value, str):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def configure_logging(settings: LoggingSettings, *, verbose: bool = False) -> None:
    """Apply [logging] to the root logger's stderr handler (set up by the CLI's main)."""
    root = logging.getLogger()
    if not verbose:
        root.setLevel(settings.level)
    if settings.format != "json":
        return
    handlers = [h for h in root.handlers if isinstance(h, logging.StreamHandler)]
    if not handlers:
        handlers = [logging.StreamHandler(sys.stderr)]
        root.addHandler(handlers[0])
    for h in handlers:
        h.setFormatter(JsonFormatter())
