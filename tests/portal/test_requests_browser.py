"""A DPO takes a caller's access request in a real browser (Chromium via Playwright, real
uvicorn): opens it from the number the caller gave, sees the due date, records the identity
check and downloads the pack. Every control on the request pages is labelled."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.portal.conftest import Site
from tests.portal.test_browser import browser, log_in, page, unlabelled

pytestmark = pytest.mark.parametrize("site", ["sqlite-fs"], indirect=True)
__all__ = ["browser", "page"]  # the fixtures, shared with the portal's browser test


def test_dpo_takes_an_access_request_and_downloads_the_pack(
    page: Page, site: Site, tmp_path: Path
) -> None:
    log_in(page, "dpo")
    page.get_by_role("link", name="Requests").click()
    expect(page.get_by_role("heading", name="Data-subject requests")).to_be_visible()
    assert unlabelled(page) == []
    page.get_by_label("Kind").select_option("access")
    page.get_by_label("Caller numbers (one per line, any spelling)").fill("01277 312500")
    page.get_by_label("Received (YYYY-MM-DD, default today)").fill("2026-01-31")
    page.get_by_role("button", name="Open the request").click()
    expect(page.locator("#due")).to_contain_text("2026-02-28")
    expect(page.locator("#state")).to_have_text("received")
    assert unlabelled(page) == []
    page.get_by_label("How the identity was checked").fill("council tax account and address")
    page.get_by_role("button", name="Identity verified").click()
    expect(page.locator("#state")).to_have_text("verified")
    with page.expect_download() as got:
        page.get_by_role("button", name="Download the pack").click()
    pack = tmp_path / "pack.zip"
    got.value.save_as(pack)
    with zipfile.ZipFile(pack) as z:
        names = z.namelist()
        data = json.loads(z.read("data.json"))
    assert f"recordings/{site.housing}/caller.wav" in names and "README.txt" in names
    assert {r["id"] for r in data["recordings"]} == {site.housing, site.waste}
    page.reload()
    expect(page.locator("#state")).to_have_text("in-progress")
