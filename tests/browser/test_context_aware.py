"""Context-aware MFA in Chromium: a trusted browser skips the second factor, a fresh one does not.

The web tests prove the rules with Django's test client, which ignores cookie flags; this
proves the real device cookie (Secure, HttpOnly, SameSite=Lax on http://localhost) is kept
and sent by a browser.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sekisho.mfa import totp
from tests.browser.conftest import DemoServer, demo_cli, run_demo
from tests.browser.test_demo_flow import TIMEOUT_MS, ConsoleWatch

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoServer]:
    """A fresh demo in context-aware mode (the shared demo stays in 'every sign-in')."""
    with run_demo(tmp_path, tmp_path / "demo.log", known_password=True) as server:
        demo_cli(tmp_path, "mfa", "configure", "--mode", "context-aware")
        yield server


def _new_context(browser: Browser) -> BrowserContext:
    context = browser.new_context(locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    return context


def _next_code(secret: str, used: set[int]) -> str:
    """A code from a 30-second step not used yet (each step is accepted once)."""
    while True:
        now = datetime.now(UTC)
        step = totp.time_step(now)
        remaining = totp.PERIOD_SECONDS - (time.time() % totp.PERIOD_SECONDS)
        if step not in used and remaining > 3:
            used.add(step)
            return totp.code_at(secret=secret, now=now)
        time.sleep(remaining + 0.2)


def _password(page: Page, demo: DemoServer) -> None:
    page.goto(f"{demo.base_url}/signin")
    page.fill("#username", "agent1")
    page.fill("#password", demo.password)
    page.click("form[action='/signin'] button[type=submit]")


def test_a_trusted_browser_skips_mfa_and_a_fresh_one_is_asked(
    demo: DemoServer, browser: Browser
) -> None:
    used: set[int] = set()
    trusted = _new_context(browser)
    console = ConsoleWatch(trusted)
    page = trusted.new_page()
    _password(page, demo)
    page.wait_for_url("**/signin/mfa/register")
    page.click("#choose-totp")
    secret = (page.locator("#totp-secret").text_content() or "").replace(" ", "")
    page.fill("#code", _next_code(secret, used))
    page.click("form:has(#code) button[type=submit]")
    page.click("form[action='/signin/continue'] button[type=submit]")
    page.wait_for_url("**/apps")
    page.click("form[action='/signout'] button")

    # Context-aware: this browser is not trusted yet, so MFA is asked; trust it now.
    _password(page, demo)
    page.wait_for_url("**/signin/mfa/totp")
    page.check("input[name=trust_device]")
    page.fill("#code", _next_code(secret, used))
    page.click("form:has(#code) button[type=submit]")
    page.wait_for_url("**/apps")
    cookie = next(c for c in trusted.cookies() if c["name"] == "sekisho_device")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax"
    page.click("form[action='/signout'] button")

    # The trusted browser from a known address: straight to My applications.
    _password(page, demo)
    page.wait_for_url("**/apps")

    # A fresh browser (no device cookie) is asked, from the same address.
    fresh = _new_context(browser)
    other = fresh.new_page()
    _password(other, demo)
    other.wait_for_url("**/signin/mfa/totp")
    assert other.locator("input[name=trust_device]").is_visible()

    # My security lists the trusted browser; stopping trust brings the question back.
    page.goto(f"{demo.base_url}/account")
    page.wait_for_url("**/account/verify**")
    page.fill("#password", demo.password)
    page.click("form[action='/account/verify'] button[type=submit]")
    page.wait_for_url("**/account")
    assert page.locator("#trusted").get_by_text("this browser").is_visible()
    page.click("#trusted form button")
    page.wait_for_selector("text=The browser is no longer trusted.")
    page.click("form[action='/signout'] button")
    _password(page, demo)
    page.wait_for_url("**/signin/mfa/totp")
    assert console.errors == []
    fresh.close()
    trusted.close()
