"""schemathesis against the served OpenAPI document: no request it makes gets a 5xx."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from tests.portal.conftest import Site

pytestmark = [pytest.mark.parametrize("site", ["sqlite-fs"], indirect=True), pytest.mark.slow]


def test_no_request_gets_a_server_error(site: Site) -> None:
    doc = httpx.get(f"{site.base}/api/v1/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(doc)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 6
    headers = {"Authorization": f"Bearer {site.tokens['dpo']}"}
    seen: set[str] = set()

    @given(case=st.one_of(*(op.as_strategy() for op in operations)))
    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
        seen.add(case.operation.label)
        response = case.call(base_url=site.base, headers=headers)
        case.validate_response(response, checks=[not_a_server_error])

    check()
    assert len(seen) >= 4, seen  # the examples reached most operations
