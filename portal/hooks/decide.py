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

from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from consent.do_not_record import DoNotRecordList
from consent.notices import Notice, NoticeCatalogue
from storage.audit import canonical_json
from storage.catalogue.db import CONNECT_TIMEOUT_S, Catalogue
from storage.catalogue.models import ConsentRecordRow, PlatformCall
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


# PostgreSQL: the whole decision in ONE statement, committed on its own (autocommit), so one
# round trip: the list looked up, the call's row and its consent record inserted. The call's
# row is inserted first (ON CONFLICT DO NOTHING: a retry of a call ID inserts nothing) with the
# record's id drawn from its sequence; the record is inserted only if the call's row was. The
# foreign key is checked at the statement's end, when both rows exist. Always the table itself,
# never a cache: an objection added a moment before is seen (issue 7 item 3).
_PG_DECIDE = """
WITH listed AS (
    SELECT EXISTS (SELECT 1 FROM do_not_record WHERE caller_hash = %(caller_hash)s) AS listed
), opened AS (
    INSERT INTO platform_calls (platform_call_id, consent_record_id, opened_at, updated_at, facts)
    SELECT %(call_id)s, nextval(pg_get_serial_sequence('consent_records', 'id')), %(now)s, %(now)s,
           CASE WHEN listed.listed THEN %(doc_listed)s ELSE %(doc_open)s END
    FROM listed
    ON CONFLICT (platform_call_id) DO NOTHING
    RETURNING consent_record_id, facts
), recorded AS (
    INSERT INTO consent_records (id, call_id, recording_id, received_at, document, caller_hash)
    SELECT consent_record_id, %(call_id)s, NULL, %(now)s, facts, %(caller_hash)s FROM opened
    RETURNING id
)
SELECT listed.listed, (SELECT count(*) FROM recorded) AS opened FROM listed
"""


def decision_engine(url: str, pool_size: int) -> Engine | None:
    """The decisions' own engine on PostgreSQL (None elsewhere): autocommit, no pre-ping (a
    round trip per checkout; a connection PostgreSQL dropped fails one decision and is
    replaced), `pool_size` connections (a decision waits up to 10 s for one)."""
    if not url.startswith("postgresql"):
        return None
    connect_args: dict[str, Any] = {"autocommit": True}  # each statement its own transaction
    if "connect_timeout=" not in url:  # as the catalogue's engine (storage/catalogue/db.py)
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    return create_engine(
        url,
        connect_args=connect_args,
        pool_pre_ping=False,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=10,
    )


class Decider:
    def __init__(
        self,
        catalogue: Catalogue,
        dnr: DoNotRecordList,
        notices: NoticeCatalogue,
        terms: ConsentTerms,
        clock: Callable[[], datetime] = utcnow,
        engine: Engine | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.dnr = dnr
        self.notices = notices
        self.terms = terms
        self.clock = clock
        self.engine = engine  # decision_engine(): the one-statement path on PostgreSQL

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()

    def notice(self, notice_id: str, version: str) -> Notice | None:
        for n in self.notices.notices:
            if (n.id, n.version) == (notice_id, version):
                return n
        return None

    def decide(self, call_id: str, caller: str | None, dialled: str) -> Decision:
        """One transaction: the list looked up, the consent record and the call's row opened.

        A platform that asks again for the same call ID (a retry) gets a fresh answer and
        the record already open; nothing is written twice (the call ID is the primary key
        of `platform_calls`, so the second insert fails and its transaction rolls back).
        """
        notice = self.notices.select(dialled)
        now = self.clock()
        if self.engine is not None:
            return self._decide_pg(self.engine, call_id, caller, notice, now)
        try:
            with self.catalogue.session() as s:
                d = self._answer(self._listed(s, caller), notice)
                doc = opening_record(call_id, d, self.terms, now, withheld=not caller)
                self._open(s, call_id, doc, now, self.dnr.hasher.hash_or_none(caller or None))
            return d
        except IntegrityError:  # the call ID was asked before (a retry): its record is open
            with self.catalogue.session() as s:
                return self._answer(self._listed(s, caller), notice)

    def _decide_pg(
        self, engine: Engine, call_id: str, caller: str | None, notice: Notice, now: datetime
    ) -> Decision:
        try:
            caller_hash = self.dnr.hasher.hash_or_none(caller or None)
        except CallvaultError as exc:
            raise CallerUnreadable(f"caller: {exc}") from None
        answers = {listed: self._answer(listed, notice) for listed in (True, False)}
        docs = {
            listed: canonical_json(opening_record(call_id, d, self.terms, now, withheld=not caller))
            for listed, d in answers.items()
        }
        params = {
            "call_id": call_id,
            "caller_hash": caller_hash,
            "now": now,
            "doc_listed": docs[True],
            "doc_open": docs[False],
        }
        conn = engine.raw_connection()  # psycopg itself: no SQLAlchemy layer per decision
        try:
            cur = conn.cursor()
            cur.execute(_PG_DECIDE, params)
            row = cur.fetchone()
            cur.close()
        finally:
            conn.close()  # back to the pool
        if row is None:  # the statement always answers one row
            raise RuntimeError("the decision statement returned no row")
        return answers[bool(row[0])]

    def _answer(self, listed: bool, notice: Notice) -> Decision:
        return Decision(
            record=not listed,
            reason="caller is on the do-not-record list" if listed else None,
            notice=notice,
            objection_digit=self.terms.objection_digit,
        )

    def _listed(self, s: Session, caller: str | None) -> bool:
        try:
            return self.dnr.listed_in(s, caller or None)
        except CallvaultError as exc:  # a value storage/identity refuses outright
            raise CallerUnreadable(f"caller: {exc}") from None

    def _open(
        self, s: Session, call_id: str, doc: dict[str, Any], now: datetime, caller_hash: str | None
    ) -> None:
        # The caller's keyed hash (never the number) lets a data-subject request find the call.
        row = ConsentRecordRow(
            call_id=call_id,
            recording_id=None,
            received_at=now,
            document=canonical_json(doc),
            caller_hash=caller_hash,
        )
        s.add(row)
        s.flush()
        s.add(
            PlatformCall(  # flushed at the commit: a call ID asked before fails there
                platform_call_id=call_id,
                consent_record_id=row.id,
                opened_at=now,
                updated_at=now,
                facts=canonical_json(doc),
            )
        )
        # Its audit event is appended by audit_batch.DecisionAudit, with others, within
        # about a second: one chain append per decision would serialise all decisions.


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
