"""POST /hooks/v1/incoming-call: may this caller be recorded, and which notice is played?

The answer reuses what the SIP agent uses: the do-not-record list by the caller's keyed E.164
hash (consent.do_not_record, storage.identity) and the notice the dialled number selects
(consent.notices.NoticeCatalogue.select). A consent-only record is opened for the platform's
call ID at once, so a call that never uploads audio still leaves its consent record; the
call's events (calls.py) and its upload complete it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from consent.do_not_record import DoNotRecordList
from consent.notices import Notice, NoticeCatalogue
from consent.records import store_consent_only
from storage.audit import canonical_json
from storage.catalogue.db import Catalogue
from storage.catalogue.models import PlatformCall
from storage.clock import utcnow
from storage.errors import CallvaultError


@dataclass(frozen=True)
class ConsentTerms:
    """What the consent record states besides the call's own facts ([consent] settings)."""

    lawful_basis: str
    purposes: tuple[str, ...]
    objection_digit: str


@dataclass(frozen=True)
class Decision:
    record: bool
    reason: str | None
    notice: Notice
    objection_digit: str


class Decider:
    def __init__(
        self,
        catalogue: Catalogue,
        dnr: DoNotRecordList,
        notices: NoticeCatalogue,
        terms: ConsentTerms,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.catalogue = catalogue
        self.dnr = dnr
        self.notices = notices
        self.terms = terms
        self.clock = clock

    def notice(self, notice_id: str, version: str) -> Notice | None:
        for n in self.notices.notices:
            if (n.id, n.version) == (notice_id, version):
                return n
        return None

    def decide(self, call_id: str, caller: str | None, dialled: str, actor: str) -> Decision:
        try:
            listed = self.dnr.contains(caller or None)
        except CallvaultError as exc:  # a number storage/identity cannot read
            raise CallerUnreadable(f"caller: {exc}") from None
        notice = self.notices.select(dialled)
        decision = Decision(
            record=not listed,
            reason="caller is on the do-not-record list" if listed else None,
            notice=notice,
            objection_digit=self.terms.objection_digit,
        )
        self._open(call_id, caller, decision, actor)
        return decision

    def _open(self, call_id: str, caller: str | None, d: Decision, actor: str) -> None:
        now = self.clock()
        doc = opening_record(call_id, d, self.terms, now, withheld=not caller)
        with self.catalogue.session() as s:
            if s.get(PlatformCall, call_id) is not None:
                return  # asked again (a platform's retry): the record is already open
        record_id = store_consent_only(self.catalogue, call_id, doc, actor=actor, clock=self.clock)
        with self.catalogue.session() as s:
            if s.get(PlatformCall, call_id) is None:
                s.add(
                    PlatformCall(
                        platform_call_id=call_id,
                        consent_record_id=record_id,
                        opened_at=now,
                        updated_at=now,
                        facts=canonical_json(doc),
                    )
                )


class CallerUnreadable(CallvaultError):
    pass


def opening_record(
    call_id: str, d: Decision, terms: ConsentTerms, now: datetime, *, withheld: bool
) -> dict[str, Any]:
    """The consent record as the decision leaves it (the agent's shape, telephony/flow.py)."""
    return {
        "call_id": call_id,
        "source": "platform-hook",
        "notice": {"id": d.notice.id, "version": d.notice.version, "language": d.notice.language},
        "notice_duration_s": round(d.notice.duration_s, 2),
        "notice_seconds_played": None,
        "notice_completed": None,
        "objection": None,
        "do_not_record": not d.record,
        "caller_withheld": withheld,
        "outcome": "do-not-record" if not d.record else "in progress",
        "lawful_basis": terms.lawful_basis,
        "purposes": list(terms.purposes),
        "paused_intervals": [],
        "case_ids": [],
        "started_at": now.isoformat(),
        "ended_at": None,
        "ended_by": None,
    }
