"""The dashboard in real headless Chromium (Debian's), driven by Playwright.

Actions run in a browser context with JavaScript switched off, which proves the
pages need none. The accessibility pass (axe-core: headings, labels, contrast,
landmarks, WCAG 2 A/AA rules) runs in a second context. Screenshots of every
view are written under the test's tmp dir.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright

Server = Any  # tests/serve/conftest.py: a running `unipost serve`

ROOT = Path(__file__).parents[2]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWS = {
    "overview": "/dashboard/",
    "attention": "/dashboard/attention",
    "domains": "/dashboard/domains",
    "posts": "/dashboard/posts",
    "calendar": "/dashboard/calendar",
}


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        subprocess.run(
            ["bash", str(ROOT / "scripts/ci/install-chromium.sh")], check=True, timeout=900
        )
        found = shutil.which("chromium")
    assert found, "scripts/ci/install-chromium.sh did not install chromium"
    return found


@pytest.fixture(scope="module")
def dash(start_server: Any) -> Server:
    server: Server = start_server("dashboard")
    return server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright gives each launch a fresh temporary --user-data-dir of its own.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium(), args=CHROMIUM_FLAGS, timeout=60_000
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def sign_in(page: Page, server: Server, token: str = "full") -> None:  # noqa: S107 - a label
    page.goto(server.url + "/dashboard/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    page.get_by_label("API token").fill(server.tokens[token])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")


@pytest.fixture
def page(browser: Browser, dash: Server) -> Iterator[Page]:
    """A signed-in page with JavaScript off."""
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    sign_in(page, dash)
    yield page
    context.close()


def test_sign_in_is_required_and_checks_the_token(browser: Browser, dash: Server) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(dash.url + "/dashboard/posts")
    expect(page).to_have_url(dash.url + "/dashboard/login")
    page.get_by_label("API token").fill("upt_wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That token is not known here.")
    page.get_by_label("API token").fill(dash.tokens["publisher"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That token may not read the outbox.")
    cookies = context.cookies()
    assert cookies == []
    sign_in(page, dash, "reader")
    (cookie,) = context.cookies()
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    assert dash.tokens["reader"] not in cookie["value"]
    page.goto(dash.url + "/dashboard/domains")
    assert page.get_by_role("button", name="Isolate webhook:127.0.0.1").count() == 0  # read only
    page.get_by_role("button", name="Sign out (reader)").click()
    expect(page).to_have_url(dash.url + "/dashboard/login")
    context.close()


def test_every_view_renders_the_seeded_outbox(page: Page, dash: Server, shots: Path) -> None:
    seeded = dash.seeded
    page.goto(dash.url + VIEWS["overview"])
    counts = page.get_by_role("region", name="Records by state")
    expect(counts).to_contain_text("failed")
    expect(counts).to_contain_text("ambiguous")
    expect(page.get_by_role("table", name="Records that settled in each hour")).to_be_visible()
    page.screenshot(path=shots / "overview.png", full_page=True)

    page.goto(dash.url + VIEWS["domains"])
    hook = page.get_by_role("region", name="webhook:127.0.0.1")
    expect(hook).to_contain_text("Channels: down, hook.")
    expect(hook).to_contain_text("connection refused")
    page.screenshot(path=shots / "domains.png", full_page=True)

    page.goto(dash.url + VIEWS["posts"])
    grid = page.get_by_role("table", name="Delivery state of each post on each channel")
    fallback = grid.get_by_role("row").filter(has_text="seed-fallback")
    expect(fallback).to_contain_text("fallback used")
    expect(fallback).to_contain_text("moved on")
    delivered = grid.get_by_role("row").filter(has_text="seed-delivered")
    expect(delivered.get_by_role("link", name="view post")).to_have_count(2)
    expect(grid.get_by_role("row").filter(has_text="seed-failed")).to_contain_text("body rejected")
    page.screenshot(path=shots / "posts.png", full_page=True)

    page.goto(f"{dash.url}/dashboard/records/{seeded.fallback_primary}")
    timeline = page.get_by_role("list").filter(has_text="Attempt 1")
    expect(timeline).to_contain_text("Attempt 2")
    expect(timeline).to_contain_text("waited 90 s")
    page.screenshot(path=shots / "record.png", full_page=True)

    page.goto(dash.url + VIEWS["attention"])
    expect(page.get_by_role("region", name="May have been published (1)")).to_contain_text(
        "seed-ambiguous"
    )
    expect(page.get_by_role("region", name="Channels needing re-authorization")).to_contain_text(
        "down: 1 record(s) held"
    )
    page.screenshot(path=shots / "attention.png", full_page=True)

    scheduled_at = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    page.goto(f"{dash.url}/dashboard/calendar?month={scheduled_at:%Y-%m}")
    day = page.get_by_role("cell").filter(has_text="seed-scheduled")
    expect(day).to_contain_text("site, blog")
    expect(day).to_contain_text(str(scheduled_at.day))
    page.screenshot(path=shots / "calendar.png", full_page=True)

    for name in (*VIEWS, "record"):
        assert (shots / f"{name}.png").stat().st_size > 10_000


def breaker(dash: Server, domain: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {dash.tokens['reader']}"}
    found = httpx.get(dash.url + "/v1/breakers", headers=headers).json()["breakers"]
    return next(b for b in found if b["domain"] == domain)


def test_isolate_and_reset_a_failure_domain(page: Page, dash: Server, shots: Path) -> None:
    page.goto(dash.url + VIEWS["domains"])
    hook = page.get_by_role("region", name="webhook:127.0.0.1")
    hook.get_by_label("Minutes").fill("30")
    hook.get_by_role("button", name="Isolate webhook:127.0.0.1").click()
    expect(page.get_by_role("status")).to_have_text("webhook:127.0.0.1 is isolated for 30 min.")
    expect(page.get_by_role("heading", name="webhook:127.0.0.1")).to_contain_text("isolated")
    state = breaker(dash, "webhook:127.0.0.1")
    assert state["state"] == "isolated"
    assert state["open_until"] == pytest.approx(time.time() + 1800, abs=120)
    page.screenshot(path=shots / "domains-isolated.png", full_page=True)
    page.get_by_role("button", name="Reset webhook:127.0.0.1").click()
    expect(page.get_by_role("status")).to_have_text("webhook:127.0.0.1 is closed again.")
    assert breaker(dash, "webhook:127.0.0.1")["state"] == "closed"


def test_retry_from_a_record_page_delivers_it(page: Page, dash: Server) -> None:
    record_id = dash.seeded.failed
    page.goto(f"{dash.url}/dashboard/records/{record_id}")
    page.get_by_role("button", name="Retry hook for post seed-failed").click()
    expect(page.get_by_role("status")).to_have_text("Retry scheduled: the worker sends it now.")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page.reload()
        if "delivered" in (page.get_by_role("definition").first.text_content() or ""):
            break
        time.sleep(0.5)
    expect(page.get_by_role("definition").first).to_have_text("delivered")
    expect(page.get_by_role("list").filter(has_text="Attempt 3")).to_be_visible()


def test_inbox_resolves_reauthorizes_and_bulk_retries(page: Page, dash: Server) -> None:
    page.goto(dash.url + VIEWS["attention"])
    settle = page.get_by_role("group", name="Settle hook for post seed-ambiguous")
    settle.get_by_label("Yes, it is on the platform").check()
    settle.get_by_label("Its URL").fill("http://127.0.0.1:9/hook/posts/17")
    settle.get_by_role("button", name="Resolve").click()
    expect(page.get_by_role("status")).to_have_text("Marked as published.")
    expect(page.get_by_role("region", name="May have been published (0)")).to_be_visible()

    page.get_by_role("button", name="Re-authorized down: send its held records").click()
    expect(page.get_by_role("status")).to_have_text("down: 1 record(s) unblocked.")

    page.get_by_label("Records in state").select_option("expired")
    page.get_by_label("on channel").select_option("blog")
    page.get_by_role("button", name="Retry all").click()
    expect(page.get_by_role("status")).to_have_text("Retrying 1 expired record(s).")

    page.get_by_label("Records in state").select_option("retry_wait")
    page.get_by_role("button", name="Cancel all").click()
    expect(page.get_by_role("status")).to_contain_text("Cancelled")


def test_a_forged_form_is_refused(browser: Browser, dash: Server) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, dash)
    response = page.request.post(
        dash.url + "/dashboard/domains/isolate",
        form={"domain": "webhook:127.0.0.1", "minutes": "60", "csrf": "forged"},
    )
    assert response.status == 403
    assert breaker(dash, "webhook:127.0.0.1")["state"] == "closed"
    context.close()


def test_pages_pass_the_accessibility_check(browser: Browser, dash: Server) -> None:
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, dash)
    axe = Axe()
    pages = {**VIEWS, "record": f"/dashboard/records/{dash.seeded.failed}"}
    for name, path in pages.items():
        page.goto(dash.url + path)
        assert page.get_by_role("heading", level=1).count() == 1, name
        assert page.locator("main").count() == 1, name
        results = axe.run(page)
        violations = results.response["violations"]
        assert violations == [], (name, results.generate_report())
        passed = {rule["id"] for rule in results.response["passes"]}
        assert {"color-contrast", "document-title", "html-has-lang"} <= passed, name
        if page.locator("input:not([type=hidden])").count():
            assert "label" in passed, name
        if page.locator("select").count():
            assert "select-name" in passed, name
    context.close()
