"""QA evaluation in a real browser (Debian's Chromium through Playwright, a real uvicorn):
listen with a reason, open the evaluation section, fill the form, submit, see the score; the
report page shows its chart. Every control has a label."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from quality.definition import load_form_file
from tests.conftest import CALLVAULT
from tests.portal.conftest import PASSWORD, Site
from tests.portal.test_browser import ARGS, CHROMIUM, unlabelled
from tests.quality.conftest import EXAMPLE

pytestmark = pytest.mark.parametrize("site", ["sqlite-wav"], indirect=True)


@pytest.fixture(scope="module")
def qa_browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def qa_page(qa_browser: Browser, site: Site) -> Iterator[Page]:
    r = subprocess.run(
        [CALLVAULT, "--config", str(site.config), "qa", "forms", "load", str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    context = qa_browser.new_context(base_url=site.base)
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    yield pg
    context.close()


def test_evaluate_a_call_and_see_its_score_and_the_report(qa_page: Page, site: Site) -> None:
    page = qa_page
    page.goto("/login")
    page.get_by_label("Name").fill("qa-all")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"/recordings/{site.housing}")
    page.get_by_label("Why are you listening?").select_option("quality")
    page.get_by_label("Details (written to the audit log)").fill("monthly QA sample")
    page.get_by_role("button", name="Listen").click()
    page.get_by_role("link", name="QA evaluations of this call").click()
    expect(page.get_by_role("heading", name="QA evaluations")).to_be_visible()
    expect(page.locator("audio")).to_have_count(1)  # the grant came along: listen while scoring
    assert unlabelled(page) == []

    form = load_form_file(EXAMPLE)
    for qid, q in form.questions().items():
        if q.kind == "yes-no":
            page.locator(f"#q-{qid}-yes").check()
        elif q.kind == "scale":
            page.locator(f"#q-{qid}-4").check()
    page.locator("#q-dp-card-pause-na").check()
    page.get_by_label("Coaching points for the officer").fill("Offer the online form.")
    page.get_by_label("Comments at moments in the call").fill("0:03 friendly greeting")
    page.get_by_role("button", name="Submit evaluation").click()
    # scale 4 counts .75: greeting, resolution, courtesy lose 10/8, 30/6, 15/8 (100 - 8.125)
    expect(page.locator("#qa-score")).to_contain_text("91.9 / 100")
    expect(page.locator("#qa-evaluations")).to_contain_text("0:03.0 friendly greeting")

    page.get_by_role("link", name="QA report").click()
    page.get_by_label("Calls from").fill("2026-11-01")
    page.get_by_label("Calls until").fill("2026-12-31")
    page.get_by_label("Period").select_option("week")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#qa-report")).to_contain_text("alex")
    chart = page.locator("img.qa-chart")
    expect(chart).to_be_visible()
    assert page.evaluate("document.querySelector('img.qa-chart').naturalWidth") == 900
    assert unlabelled(page) == []
