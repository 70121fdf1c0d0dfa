"""schemathesis against the hooks' part of the served OpenAPI document, with a platform token:
no request it makes (JSON bodies, multipart uploads, path IDs) gets a 5xx."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from tests.hooks.conftest import HookSite

pytestmark = [pytest.mark.parametrize("hook_site", ["sqlite-fs"], indirect=True), pytest.mark.slow]


def test_no_hook_request_gets_a_server_error(hook_site: HookSite) -> None:
    doc = httpx.get(f"{hook_site.base}/api/v1/openapi.json", timeout=30).json()
    doc["paths"] = {p: v for p, v in doc["paths"].items() if p.startswith("/hooks/")}
    schema = schemathesis.openapi.from_dict(doc)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) == 5
    upload = doc["paths"]["/hooks/v1/recordings"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert {"409", "413", "422"} <= set(upload["responses"])
    headers = {"Authorization": f"Bearer {hook_site.tokens['pbx']}"}
    seen: set[str] = set()

    @given(case=st.one_of(*(op.as_strategy() for op in operations)))
    @settings(
        max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
        seen.add(case.operation.label)
        response = case.call(base_url=hook_site.base, headers=headers)
        case.validate_response(response, checks=[not_a_server_error])

    check()
    assert len(seen) >= 4, seen
