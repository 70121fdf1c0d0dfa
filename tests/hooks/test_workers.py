"""`[portal] workers = 2`: `callvault portal` runs two uvicorn worker processes on one socket
(the decision rate's lever, bench/README.md); each answers decisions against PostgreSQL, the
parent alone recovers uploads, and SIGTERM stops them all."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.catalogue.models import PlatformCall
from tests.hooks.conftest import LISTED, HookSite, make_config, prepare
from tests.portal.conftest import running_portal


@pytest.mark.postgres_s3
def test_two_workers_answer_decisions(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    config = make_config(request, tmp_path, "postgres-s3")
    toml = config.read_text()
    config.write_text(re.sub(r"(\[portal\]\nport = \d+\n)", r"\1workers = 2\n", toml, count=1))
    assert "workers = 2" in config.read_text()
    tokens = prepare(config)
    log = tmp_path / "portal.log"
    run = uuid.uuid4().hex[:8]
    with running_portal(config, log) as base:
        site = HookSite("postgres-s3", config, base, log, tokens)
        with site.client() as c:
            for i in range(30):
                caller = LISTED if i % 3 == 0 else "+441277312500"
                r = c.post(
                    "/hooks/v1/incoming-call",
                    json={"platform_call_id": f"w-{run}-{i}", "caller": caller, "dialled": "1"},
                    headers={"Connection": "close"},  # new connections: both workers accept
                )
                assert r.status_code == 200, r.text
                assert r.json()["record"] is (i % 3 != 0)
        svc = site.services()
        try:
            with svc.catalogue.session() as s:
                q = select(func.count()).where(PlatformCall.platform_call_id.like(f"w-{run}-%"))
                assert s.scalar(q) == 30
        finally:
            svc.close()
    text = log.read_text()
    assert len(set(re.findall(r"Started server process \[(\d+)\]", text))) == 2, text
    assert "hook POST /hooks/v1/incoming-call by pbx: 200" in text  # the workers log too
    assert "1277312" not in text
