"""Wiring of the SIP agent: settings → Agent, control socket, do-not-record cache, recovery.

pjsua2 is imported only when an agent is actually started, so every other command works on a
machine without it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any

from callvault.wiring import Services
from consent.do_not_record import DoNotRecordCache, DoNotRecordList
from consent.notices import DEFAULT_APOLOGY, NoticeCatalogue
from storage import metrics
from telephony.errors import TelephonyError
from telephony.handoff import Handoff

log = logging.getLogger(__name__)


def recover_spool(svc: Services) -> list[str]:
    """Store calls a stopped agent left behind, then finish interrupted ingest jobs."""
    lines = []
    for r in Handoff(svc.pipeline()).recover():
        lines.append(
            f"recovered call {r.flow_id}: {r.kind}" + (f" ({r.ingest.state})" if r.ingest else "")
        )
    for res in svc.pipeline().resume():
        lines.append(f"resumed job {res.recording_id}: {res.state} {res.message}".rstrip())
    return lines


class AgentComponent:
    """Runs the agent on its own thread (the one that owns pjsua2) next to the scheduler."""

    def __init__(self, svc: Services, **overrides: Any) -> None:
        self.svc = svc
        self._given = {k: v for k, v in overrides.items() if v is not None}  # CLI options
        self.sip = dataclasses.replace(svc.settings.sip, **self._given)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._cache: DoNotRecordCache | None = None
        self._control: Any = None
        self.agent: Any = None

    def start(self) -> list[str]:
        from telephony.agent import Agent
        from telephony.control import ControlServer

        s, sip = self.svc.settings, self.sip
        lines = recover_spool(self.svc)
        self._cache = DoNotRecordCache(DoNotRecordList(self.svc.catalogue, self.svc.hasher))
        self._cache.start()
        self.agent = Agent(
            dataclasses.replace(sip, apology_file=sip.apology_file or DEFAULT_APOLOGY),
            notices=NoticeCatalogue.from_config(s.consent.notices, s.base_dir),
            policy=s.consent,
            calls_dir=self.svc.spool.calls_dir,
            handoff=Handoff(self.svc.pipeline()),
            do_not_record=self._cache,
        )
        self.svc.spool.ensure()
        self._thread = threading.Thread(target=self._run, name="sip", daemon=True)
        self._thread.start()
        while not self.agent.ready.wait(0.1):
            if not self._thread.is_alive():
                raise self._error or TelephonyError("the SIP agent stopped while starting")
        try:
            self._control = ControlServer(
                self.agent,
                port=sip.control_port,
                token_file=sip.control_token_file,
                register_thread=self._register,
            )
        except OSError as exc:  # the port in use (or not ours to bind): say which and where set
            where = "--control-port" if "control_port" in self._given else "[sip] control_port"
            raise TelephonyError(
                f"the agent's control socket cannot listen on 127.0.0.1:{sip.control_port} "
                f"({where}): {exc.strerror or exc}"
            ) from exc
        self._control.start()
        metrics.CALLS_CAPACITY.set(self.agent.capacity)
        lines.append(
            f"SIP agent on {sip.host}:{sip.port} ({'+'.join(sip.transports)}), "
            f"capacity {self.agent.capacity} calls, pjsua2 {self.agent.build.version}; "
            f"call it: sip:100@{sip.host}:{sip.port}"
        )
        return lines

    @staticmethod
    def _register() -> None:
        import pjsua2 as pj

        pj.Endpoint.instance().libRegisterThread(threading.current_thread().name)

    def _run(self) -> None:
        try:
            self.agent.run()
        except BaseException as exc:
            self._error = exc
            log.error("SIP agent stopped: %s", exc)

    @property
    def failed(self) -> BaseException | None:
        return self._error

    def stop(self) -> None:
        if self._control:
            self._control.stop()
        if self.agent:
            self.agent.stop()
        if self._thread:
            self._thread.join(timeout=60)
        if self._cache:
            self._cache.stop()
