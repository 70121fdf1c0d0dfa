"""What arrives with the audio, checked field by field against storage/fields.py before the
first byte is spooled (or, for audio already recorded, kept with the bad fields marked)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from storage import fields
from storage.errors import StorageError

CASE_SOURCES = ("ingest", "sip-header", "dtmf", "tag")


@dataclass(frozen=True)
class IngestRequest:
    """What arrives with the audio. Consent is the per-call record as received (a JSON object)."""

    call_id: str
    caller: str | None = None
    service: str | None = None
    agent: str | None = None
    case_ids: tuple[str, ...] = ()
    case_source: str = "ingest"
    consent: dict[str, Any] | None = None
    started_at: datetime | None = None
    complete: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    invalid_fields: tuple[str, ...] = ()

    def validate(self) -> None:
        """Raise FieldError naming the first field that breaks its rule (storage/fields.py)."""
        for name, problem in self._problems():
            raise fields.FieldError(name, problem)

    def sanitised(self, fallback_call_id: str) -> IngestRequest:
        """For audio that was already recorded: drop every invalid field (naming it in
        invalid_fields) instead of refusing the recording."""
        bad = dict(self._problems())
        if not bad:
            return self
        names = [n.split(" #")[0] for n in bad]
        changes: dict[str, Any] = {}
        if "call id" in bad:
            changes["call_id"] = fallback_call_id
        for label, attr in (("caller", "caller"), ("service", "service"), ("agent", "agent")):
            if label in bad:
                changes[attr] = None
        if "started at" in bad:
            changes["started_at"] = None
        if "case source" in bad:
            changes["case_source"] = "ingest"
        if any(n in ("case id", "case ids") for n in names):
            changes["case_ids"] = tuple(_valid_case_ids(self.case_ids))
        if "consent record" in bad:
            changes["consent"] = {"invalid": f"consent record {bad['consent record']}"}
        seen = dict.fromkeys([*self.invalid_fields, *(_FIELD_NAMES[n] for n in names)])
        return replace(self, **changes, invalid_fields=tuple(seen))

    def _problems(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []

        def run(check: Callable[[], object]) -> None:
            try:
                check()
            except fields.FieldError as exc:
                out.append((exc.field, str(exc).split(": ", 1)[1]))

        run(lambda: fields.CALL_ID.check(self.call_id))
        for spec, value in (
            (fields.CALLER, self.caller),
            (fields.SERVICE, self.service),
            (fields.AGENT, self.agent),
        ):
            if value is not None:
                run(lambda spec=spec, value=value: spec.check(value))  # type: ignore[misc]
        if not isinstance(self.case_ids, tuple | list):
            out.append(("case ids", "must be a list of text"))
        else:
            if len(self.case_ids) > fields.MAX_CASE_IDS:
                out.append(
                    ("case ids", f"{len(self.case_ids)} given; at most {fields.MAX_CASE_IDS}")
                )
            for i, c in enumerate(self.case_ids, 1):
                run(lambda c=c, i=i: fields.CASE_ID.check(c, label=f"case id #{i}"))  # type: ignore[misc]
        if self.case_source not in CASE_SOURCES:
            out.append(("case source", f"must be one of {', '.join(CASE_SOURCES)}"))
        if self.consent is not None:
            run(lambda: fields.check_consent(self.consent))
        if self.started_at is not None and (
            not isinstance(self.started_at, datetime) or self.started_at.tzinfo is None
        ):
            out.append(("started at", "must be a date and time with a time zone"))
        return out

    def to_manifest(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "caller": self.caller,
            "service": self.service,
            "agent": self.agent,
            "case_ids": list(self.case_ids),
            "case_source": self.case_source,
            "consent": self.consent,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "complete": self.complete,
            "extra": self.extra,
            "invalid_fields": list(self.invalid_fields),
        }

    @classmethod
    def from_manifest(cls, req: dict[str, Any]) -> IngestRequest:
        try:
            started = datetime.fromisoformat(req["started_at"]) if req.get("started_at") else None
        except (TypeError, ValueError):
            raise fields.FieldError("started at", "is not an ISO 8601 date and time") from None
        return cls(
            call_id=req.get("call_id"),  # type: ignore[arg-type]
            caller=req.get("caller"),
            service=req.get("service"),
            agent=req.get("agent"),
            case_ids=tuple(req.get("case_ids") or ()),
            case_source=req.get("case_source", "ingest"),
            consent=req.get("consent"),
            started_at=started,
            complete=bool(req.get("complete", True)),
            extra=req.get("extra") or {},
            invalid_fields=tuple(req.get("invalid_fields") or ()),
        )


_FIELD_NAMES = {
    "call id": "call_id",
    "caller": "caller",
    "service": "service",
    "agent": "agent",
    "case id": "case_ids",
    "case ids": "case_ids",
    "case source": "case_source",
    "consent record": "consent",
    "started at": "started_at",
}


def _valid_case_ids(case_ids: object) -> list[str]:
    if not isinstance(case_ids, tuple | list):
        return []
    good = []
    for c in case_ids:
        try:
            good.append(fields.CASE_ID.check(c))
        except fields.FieldError:
            continue
    return good[: fields.MAX_CASE_IDS]


def load_consent_file(path: Path) -> dict[str, Any]:
    """Read a consent JSON document, failing with the file name and what is wrong."""
    limit = fields.CONSENT_MAX_BYTES
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise StorageError(f"consent file {path} does not exist") from None
    except OSError as exc:
        raise StorageError(f"consent file {path} cannot be read: {exc.strerror}") from None
    if len(data) > limit:
        raise StorageError(f"consent file {path} is larger than {limit} bytes")
    try:
        doc = json.loads(data.decode("utf-8"))
    except RecursionError:
        raise StorageError(f"consent file {path} is nested too deeply") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StorageError(f"consent file {path} is not valid JSON: {exc}") from None
    try:
        return fields.check_consent(doc, f"consent file {path}")
    except fields.FieldError as exc:
        raise StorageError(str(exc)) from None
