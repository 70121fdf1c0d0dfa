"""The call record: what a live call's `call.json` holds, as one typed object.

The SIP agent writes it at each step of a call; the hand-off and `ingest --resume` read it.
Version 1 files (written before this module existed) have no `version` and no `timing`; they
read as a record whose timing is unknown, so a spool left by the previous agent is still stored.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from storage.errors import StorageError

VERSION = 2
_REQUIRED = ("flow_id", "call_id", "consent")


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def _dt(value: Any, key: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise StorageError(f"call record: timing.{key} = {value!r} is not an ISO time") from None


@dataclass
class CallTiming:
    """When things happened, from the SIP callbacks' own timestamps where there is one."""

    notice_ended_at: datetime | None = None
    queue_dialled_at: datetime | None = None
    queue_ringing_at: datetime | None = None
    recording_started_at: datetime | None = None  # the recorders were created
    recording_discarded: bool = False  # objected during the grace: the audio was deleted

    def to_dict(self) -> dict[str, Any]:
        return {
            k: _iso(v) if isinstance(v, datetime) or v is None else v
            for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CallTiming:
        known = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for k, v in raw.items():
            if k in known:
                values[k] = bool(v) if k == "recording_discarded" else _dt(v, k)
        return cls(**values)


@dataclass
class CallRecord:
    """One call's metadata and its consent record so far (consent/records.py stores it)."""

    flow_id: str  # also the recording ID
    call_id: str  # the SIP Call-ID
    consent: dict[str, Any]
    caller: str | None = None  # as it came in the From header; sealed once ingested
    dialled: str = ""
    service: str | None = None
    queue_uri: str | None = None
    case_ids: list[str] = field(default_factory=list)
    state: str = "ringing"
    signalling_only: bool = False  # the notice never played: no consent record is due
    timing: CallTiming = field(default_factory=CallTiming)

    @property
    def recorded(self) -> bool:
        return bool(self.consent.get("recorded"))

    @property
    def ended_at(self) -> datetime | None:
        return _dt(self.consent.get("ended_at"), "ended_at")

    @property
    def bridged_at(self) -> datetime | None:
        return _dt(self.consent.get("bridged_at"), "bridged_at")

    def recorded_seconds(self) -> float | None:
        """How long the recorders ran until the hang-up arrived, if both times are known."""
        start, end = self.timing.recording_started_at, self.ended_at
        if start is None or end is None:
            return None
        return max(0.0, (end - start).total_seconds())

    def to_json(self) -> bytes:
        doc = {"version": VERSION} | {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "timing"
        }
        doc["timing"] = self.timing.to_dict()
        return json.dumps(doc, indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> CallRecord:
        try:
            raw = json.loads(data)
        except ValueError as exc:
            raise StorageError(f"call record is not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise StorageError("call record is not a JSON object")
        version = raw.get("version", 1)
        if version not in (1, VERSION):
            raise StorageError(f"call record version {version!r}; allowed: 1, {VERSION}")
        missing = [k for k in _REQUIRED if k not in raw]
        if missing:
            raise StorageError(f"call record lacks {', '.join(missing)}")
        if not isinstance(raw["consent"], dict):
            raise StorageError("call record: consent is not an object")
        known = {f.name for f in dataclasses.fields(cls)} - {"timing"}
        values = {k: v for k, v in raw.items() if k in known}
        values["case_ids"] = list(values.get("case_ids") or [])
        timing = raw.get("timing") or {}
        if not isinstance(timing, dict):
            raise StorageError("call record: timing is not an object")
        return cls(**values, timing=CallTiming.from_dict(timing))
