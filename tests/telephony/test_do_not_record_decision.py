"""When the notice ends the agent takes the do-not-record answer: the query's, or the cached
list's if the query has not answered yet (never waiting on the SIP thread)."""

from __future__ import annotations

import logging
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from consent.notices import Notice
from telephony.agent import Agent, AgentConfig
from telephony.flow import CallFlow, FlowPolicy

NOTICE = Notice("cs", "3", "en-GB", Path("n.wav"), 1.0, "customer-service")


class Lookups:
    def __init__(self, cached: bool) -> None:
        self.cached = cached
        self.asked: list[str | None] = []

    def lookup(self, number: str | None) -> Future[bool]:
        return Future()

    def __call__(self, number: str | None) -> bool:
        self.asked.append(number)
        return self.cached


def agent(lookups: Lookups, tmp_path: Path) -> Agent:
    return Agent(
        AgentConfig(),
        notices=None,  # type: ignore[arg-type]
        policy=FlowPolicy(),
        calls_dir=tmp_path,
        handoff=None,  # type: ignore[arg-type]
        do_not_record=lookups,
    )


def live(pending: Future[bool]) -> SimpleNamespace:
    flow = CallFlow("c-1", NOTICE, FlowPolicy(), datetime(2026, 12, 2, tzinfo=UTC))
    return SimpleNamespace(dnr=pending, caller_number="+441277000013", flow=flow)


@pytest.mark.parametrize("answer", [True, False])
def test_the_query_answer_is_used_when_it_has_come(tmp_path: Path, answer: bool) -> None:
    lookups = Lookups(cached=not answer)
    done: Future[bool] = Future()
    done.set_result(answer)
    call = live(done)
    agent(lookups, tmp_path)._settle_do_not_record(call)  # type: ignore[arg-type]
    assert call.flow.do_not_record is answer and lookups.asked == []
    assert call.dnr is None


def test_a_query_not_answered_yet_falls_back_to_the_cached_list(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lookups = Lookups(cached=True)
    call = live(Future())
    with caplog.at_level(logging.WARNING):
        agent(lookups, tmp_path)._settle_do_not_record(call)  # type: ignore[arg-type]
    assert call.flow.do_not_record is True and lookups.asked == ["+441277000013"]
    assert "used the cached list" in caplog.text and "1277" not in caplog.text
