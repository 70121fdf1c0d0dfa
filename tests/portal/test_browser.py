"""The portal in a real browser: Debian's Chromium driven by Playwright, against a real
uvicorn and real recorded calls. Fresh context (cookies) per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Response, expect, sync_playwright

from tests.portal.conftest import PASSWORD, Site

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
# The embedded backend (the HTTP suite runs on both), storing WAV so the call is big enough
# for a seek to need a new Range request.
pytestmark = pytest.mark.parametrize("site", ["sqlite-wav"], indirect=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed; `make test` installs it (scripts/system-deps.sh)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    context = browser.new_context(base_url=site.base)
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    yield pg
    context.close()


def shot(page: Page, name: str) -> None:
    """Screenshots for the README, when asked for (PORTAL_SCREENSHOTS=docs/img)."""
    target = os.environ.get("PORTAL_SCREENSHOTS")
    if target:
        page.screenshot(path=str(Path(target) / name), full_page=True)


def log_in(page: Page, name: str) -> None:
    page.goto("/login")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Find recordings")).to_be_visible()


def unlabelled(page: Page) -> list[str]:
    """Visible controls without a label (a <label>, aria-label, or a button's text)."""
    result: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button, audio')]
        .filter(e => e.type !== 'hidden')
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                     && !(e.tagName === 'BUTTON' && e.textContent.trim()))
        .map(e => e.outerHTML.slice(0, 80))"""
    )
    return result


def current_time(page: Page) -> float:
    return float(page.evaluate("document.getElementById('audio').currentTime"))


def wait_time_past(page: Page, t: float, timeout_s: float = 20) -> None:
    """Poll from Python: wait_for_function evaluates a string, which our CSP refuses."""
    for _ in range(int(timeout_s * 10)):
        if current_time(page) > t:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"audio time stayed at {current_time(page):.2f} s, never past {t:.2f} s")


def test_find_play_seek_solo_and_log_out(page: Page, site: Site) -> None:
    audio_answers: list[Response] = []
    page.on("response", lambda r: audio_answers.append(r) if "/audio/" in r.url else None)
    log_in(page, "sup-housing")
    assert unlabelled(page) == []
    page.get_by_label("Case ID").fill("HOUS-1")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#count")).to_have_text("1 match")
    shot(page, "search.png")
    page.get_by_role("link", name="Open recording").click()
    expect(page.get_by_role("heading", name=f"Recording {site.housing}")).to_be_visible()
    assert unlabelled(page) == []
    assert page.locator("audio").count() == 0  # no audio before a reason is given
    page.get_by_label("Why are you listening?").select_option("complaint")
    page.get_by_label("Details (written to the audit log)").fill("complaint 2026-118")
    # A slow line from here (64 kB/s, twice the WAV's rate): the 80 % point is not yet
    # downloaded when we seek to it, so the seek needs a new Range request.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": 64_000, "uploadThroughput": -1},
    )
    page.get_by_role("button", name="Listen").click()
    audio = page.locator("#audio")
    expect(audio).to_be_visible()
    assert unlabelled(page) == []
    page.evaluate("document.getElementById('audio').play()")
    wait_time_past(page, 0.5)
    duration = float(page.evaluate("document.getElementById('audio').duration"))
    assert duration > 100  # the two-minute call
    shot(page, "recording.png")
    target = duration * 0.8
    page.evaluate(f"document.getElementById('audio').currentTime = {target}")
    wait_time_past(page, target + 0.5)  # playback resumed after the seek
    ranges = [(r.status, r.request.headers.get("range", "")) for r in audio_answers]
    later = [
        st for st, rng in ranges if rng.startswith("bytes=") and not rng.startswith("bytes=0-")
    ]
    assert later and all(st == 206 for st in later), ranges  # the seek asked for a later range
    assert all(r.headers.get("cache-control") == "no-store" for r in audio_answers)
    page.get_by_label("Listen to").select_option("caller")
    assert page.evaluate("document.getElementById('audio').dataset.channel") == "caller"
    t = current_time(page)
    page.evaluate("document.getElementById('audio').play()")
    wait_time_past(page, min(t + 0.3, duration - 0.1))  # still playing through Web Audio
    page.get_by_label("Speed").select_option("1.5")
    assert page.evaluate("document.getElementById('audio').playbackRate") == 1.5
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.goto("/search")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_a_supervisor_of_another_service_gets_not_found(page: Page, site: Site) -> None:
    log_in(page, "sup-waste")
    answer = page.goto(f"/recordings/{site.housing}")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()


def tab_to(page: Page, selector: str, limit: int = 60) -> None:
    """Press Tab until `selector` has the focus (keyboard only: no clicks)."""
    for _ in range(limit):
        if page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} never got the focus by Tab")


def test_the_same_flow_by_keyboard_alone(page: Page, site: Site) -> None:
    page.goto("/login")
    tab_to(page, "#name")
    page.keyboard.type("sup-housing")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Find recordings")).to_be_visible()
    tab_to(page, "#case_id")
    page.keyboard.type("HOUS-1")
    page.keyboard.press("Enter")
    expect(page.locator("#count")).to_have_text("1 match")
    tab_to(page, "a[href^='/recordings/']")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=f"Recording {site.housing}")).to_be_visible()
    tab_to(page, "#reason_code")
    page.keyboard.press("ArrowDown")  # complaint -> quality
    page.keyboard.press("Tab")
    page.keyboard.type("keyboard review")
    page.keyboard.press("Enter")
    expect(page.locator("#audio")).to_be_visible()
    tab_to(page, "#audio")
    page.keyboard.press("k")  # Chromium's media shortcut: play/pause the focused element
    page.wait_for_timeout(300)
    if page.evaluate("document.getElementById('audio').paused"):
        page.keyboard.press("Space")
    wait_time_past(page, 0.5)
    tab_to(page, "#channel")
    page.keyboard.press("ArrowDown")  # both -> caller only
    assert page.evaluate("document.getElementById('channel').value") == "caller"
    tab_to(page, ".logout button")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
