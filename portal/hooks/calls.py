"""POST /hooks/v1/calls/{platform_call_id}/events: consent facts as they happen.

Each event updates the facts of the call the decision hook opened (`platform_calls`), audited
(the event's kind only: no numbers, no case references). The consent record itself is
append-only, so a hang-up appends the call's final consent-only record; an upload for the
call carries the facts (manifest.py) into the recording's consent record instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from consent.records import store_consent_only
from portal.errors import BadInput, NotFound
from storage.audit import AuditLog, canonical_json
from storage.catalogue.db import Catalogue
from storage.catalogue.models import PlatformCall
from storage.clock import utcnow
from storage.fields import CASE_ID, MAX_CASE_IDS, FieldError
from storage.outbox import emit

KINDS = ("notice-played", "objection", "pause", "resume", "case-id", "hangup")


class CallEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["notice-played", "objection", "pause", "resume", "case-id", "hangup"]
    at: datetime | None = Field(default=None, description="when it happened (default: now)")
    seconds_played: float | None = Field(default=None, ge=0, le=3600)  # notice-played
    completed: bool | None = None  # notice-played
    method: str | None = Field(default=None, max_length=32)  # objection: dtmf | speech | …
    offset_s: float | None = Field(default=None, ge=0, le=86400)  # pause / resume
    case_id: str | None = Field(default=None, max_length=120)  # case-id
    ended_by: str | None = Field(default=None, max_length=32)  # hangup: caller | staff | …


class CallEvents:
    def __init__(
        self,
        catalogue: Catalogue,
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.catalogue = catalogue
        self.clock = clock
        self.audit = audit or AuditLog(clock)

    def record(self, call_id: str, ev: CallEvent, actor: str) -> dict[str, Any]:
        at = (ev.at or self.clock()).isoformat()
        final: dict[str, Any] | None = None
        with self.catalogue.session() as s:
            row = s.get(PlatformCall, call_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no call {call_id!r}: ask POST /hooks/v1/incoming-call first")
            facts = json.loads(row.facts)
            if facts.get("ended_at") is not None:
                raise BadInput(f"call {call_id!r} has hung up; no more events are taken")
            apply(facts, ev, at)
            row.facts = canonical_json(facts)
            row.updated_at = self.clock()
            self.audit.append(
                s, actor=actor, action="platform.call.event", details={"event": ev.type}
            )
            if ev.type == "objection":
                emit(s, "consent.objected", {"consent_record_id": row.consent_record_id})
            if ev.type == "hangup":
                final = {k: v for k, v in facts.items() if k != "case_ids"}
        if final is not None:
            store_consent_only(  # consent.objected was emitted with the objection event
                self.catalogue, call_id, final, actor=actor, clock=self.clock, emit_objected=False
            )
        return {"platform_call_id": call_id, "event": ev.type, "outcome": facts["outcome"]}


def apply(facts: dict[str, Any], ev: CallEvent, at: str) -> None:
    """The event's effect on the call's consent facts (the agent's record shape)."""
    if ev.type == "notice-played":
        facts["notice_seconds_played"] = ev.seconds_played
        facts["notice_completed"] = True if ev.completed is None else ev.completed
    elif ev.type == "objection":
        facts["objection"] = {"at": at, "method": ev.method or "dtmf"}
        facts["outcome"] = "objected"
    elif ev.type == "pause":
        facts["paused_intervals"].append(
            {"start": at, "end": None, "offset_s": ev.offset_s, "source": "platform"}
        )
    elif ev.type == "resume":
        open_ = [p for p in facts["paused_intervals"] if p["end"] is None]
        if not open_:
            raise BadInput("resume without a pause")
        open_[-1]["end"], open_[-1]["end_offset_s"] = at, ev.offset_s
    elif ev.type == "case-id":
        try:
            ref = CASE_ID.check(ev.case_id)
        except FieldError as exc:
            raise BadInput(str(exc)) from None
        if len(facts["case_ids"]) >= MAX_CASE_IDS:
            raise BadInput(f"a call has at most {MAX_CASE_IDS} case IDs")
        facts["case_ids"] = list(dict.fromkeys([*facts["case_ids"], ref]))
    elif ev.type == "hangup":
        for p in facts["paused_intervals"]:
            p["end"] = p["end"] or at
        facts["ended_at"], facts["ended_by"] = at, ev.ended_by or "unknown"
        if facts["outcome"] == "in progress":
            facts["outcome"] = "recorded" if facts.get("notice_completed") else "abandoned"
