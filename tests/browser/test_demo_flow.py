"""What `make demo` gives a person, in a real browser.

`sekisho demo` runs as a subprocess (SQLite, http://localhost:<port>); Chromium signs in as
agent1 with the printed one-time password, registers a TOTP authenticator, launches
"Amazon Connect (SAML inspector)" and lands on the built-in SAML inspector, which checks
the signed assertion, then launches "Amazon Connect", which goes through the emulated AWS
sign-in and Connect federation to the agent console as agent1. Any console error (CSP
violations included) fails the test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sekisho.mfa import totp
from sekisho.saml.core.response import (
    AUTHN_CONTEXT_PASSWORD,
    AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT,
    MFA_AUTHN_CONTEXTS,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

    from tests.browser.conftest import DemoServer

pytestmark = pytest.mark.browser

ROLE_SESSION_NAME = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
ROLE = "https://aws.amazon.com/SAML/Attributes/Role"
ROLE_VALUE = (
    "arn:aws:iam::111122223333:role/ConnectFederationRole,"
    "arn:aws:iam::111122223333:saml-provider/Sekisho"
)
JA_CATALOG = Path(__file__).resolve().parents[2] / "sekisho/locale/ja/LC_MESSAGES/django.mo"
TIMEOUT_MS = 15_000
NEW_PASSWORD = "agent one's own passphrase 2026"


class ConsoleWatch:
    """Collects console errors and uncaught page errors from every page of a context."""

    def __init__(self, context: BrowserContext) -> None:
        self.errors: list[str] = []
        context.on("page", self._watch)
        for page in context.pages:
            self._watch(page)

    def _watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        # Every console error counts, CSP violations included.
        self.errors.append(f"console error at {url}: {message.text}")

    def assert_clean(self) -> None:
        assert not self.errors, "browser reported errors:\n" + "\n".join(self.errors)


@pytest.fixture
def context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    locale = getattr(request, "param", "en-US")
    ctx = browser.new_context(locale=locale, viewport={"width": 1100, "height": 900})
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


def _current_totp(secret: str) -> str:
    """The code an authenticator app shows now, waiting out a step about to expire."""
    remaining = totp.PERIOD_SECONDS - (time.time() % totp.PERIOD_SECONDS)
    if remaining < 3:
        time.sleep(remaining + 0.2)
    return totp.code_at(secret=secret, now=datetime.now(UTC))


def test_demo_walkthrough_reaches_the_inspector(
    demo_server: DemoServer, demo_printout: str, context: BrowserContext, shots_dir: Path
) -> None:
    base_url, password = demo_server
    console = ConsoleWatch(context)
    page = context.new_page()

    # 1. Sign in with the password the demo printed.
    page.goto(f"{base_url}/signin")
    assert page.locator("html").get_attribute("lang") == "en"
    # The stylesheet loaded under the CSP (style-src 'self'): the card is styled.
    assert page.locator(".card").evaluate("e => getComputedStyle(e).borderTopStyle") != "none"
    page.screenshot(path=shots_dir / "1-signin.png", full_page=True)
    page.fill("#username", "agent1")
    page.fill("#password", password)
    page.click("form[action='/signin'] button[type=submit]")

    # 2. MFA is required and agent1 has none yet: the three kinds are offered (WebAuthn,
    # TOTP, and RADIUS through the demo's RADIUS server); register an authenticator app.
    page.wait_for_url(f"{base_url}/signin/mfa/register**")
    assert page.url.endswith("/signin/mfa/register")
    for kind in ("webauthn", "totp", "radius"):
        assert page.locator(f"#choose-{kind}").is_visible(), kind
    page.screenshot(path=shots_dir / "2-mfa-choose.png", full_page=True)
    page.click("#choose-totp")
    qr = page.locator(".qr svg, .qr img").first
    qr.wait_for(state="visible")
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 100 and box["height"] >= 100, box
    page.screenshot(path=shots_dir / "2-mfa-register.png", full_page=True)
    secret = (page.locator("#totp-secret").text_content() or "").replace(" ", "").strip()
    assert len(secret) >= 26, secret
    page.fill("#code", _current_totp(secret))
    page.click("form:has(#code) button[type=submit]")
    # The recovery codes, shown once, then on to the portal.
    page.wait_for_selector("#recovery-codes li")
    assert page.locator("#recovery-codes li").count() == 10
    page.click("form[action='/signin/continue'] button[type=submit]")

    # The printed password was temporary: agent1 chooses their own before any session.
    page.wait_for_url(f"{base_url}/signin/password")
    page.screenshot(path=shots_dir / "2-new-password.png", full_page=True)
    page.fill("#new_password", NEW_PASSWORD)
    page.fill("#repeat_password", NEW_PASSWORD)
    page.click("form[action='/signin/password'] button[type=submit]")

    # 3. "My applications" lists the demo app.
    page.wait_for_url(f"{base_url}/apps")
    tile = page.locator("button.tile", has_text="Amazon Connect (SAML inspector)")
    tile.wait_for(state="visible")
    page.screenshot(path=shots_dir / "3-apps.png", full_page=True)

    # 4. The tile posts to /apps/<name>/launch; its auto-submitting SAML POST form (script
    #    allowed by CSP) lands on the built-in inspector.
    tile.click()
    page.wait_for_url(f"{base_url}/saml/inspector")
    page.locator("#verdict").wait_for()
    page.screenshot(path=shots_dir / "4-inspector.png", full_page=True)

    problems = page.locator("ul.problems li").all_text_contents()
    assert page.locator("#verdict").get_attribute("data-valid") == "true", problems
    assert page.locator('#verdict[data-valid="true"]').count() == 1
    assert (page.locator("#name-id").text_content() or "").strip() == "agent1"

    attributes: dict[str, list[str]] = {}
    for row in page.locator("#attributes tr").all():
        name = (row.locator("th code").text_content() or "").strip()
        attributes[name] = [v.strip() for v in row.locator("td code").all_text_contents()]
    assert attributes.get(ROLE_SESSION_NAME) == ["agent1"], attributes
    assert ROLE_VALUE in attributes.get(ROLE, []), attributes

    authn_row = page.locator("tr", has=page.locator("th", has_text="Authentication context"))
    authn_context = (authn_row.locator("td code").text_content() or "").strip()
    assert authn_context in MFA_AUTHN_CONTEXTS, authn_context
    assert authn_context not in (
        AUTHN_CONTEXT_PASSWORD,
        AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT,
    )

    # 5. The seed's path: Amazon Connect → emulated AWS sign-in (/aws/saml) → Connect
    #    federation (the IP condition admits this loopback browser) → the agent console.
    page.goto(f"{base_url}/apps")
    page.locator("button.tile", has_text="Amazon Connect").filter(has_not_text="inspector").click()
    page.wait_for_url(f"{base_url}/aws/connect/federate/**")
    assert (page.locator("#connect-user").text_content() or "").strip() == "agent1"
    assert "ccp-v2" in (page.locator("#connect-destination").text_content() or "")
    page.screenshot(path=shots_dir / "5-agent-console.png", full_page=True)
    console.assert_clean()

    # 6. The seed's step 8, as the demo prints it: move the federation policy's IP range
    #    away from this browser (boto3 CreatePolicyVersion), choose Amazon Connect again.
    #    (Refusal pages answer 403/401, which the browser logs: no console check from here.)
    script = re.search(r"python (\S+move-ip-range\.py) 203\.0\.113\.0/24", demo_printout)
    assert script is not None, demo_printout
    _run_script(script.group(1), "203.0.113.0/24")
    page.goto(f"{base_url}/apps")
    page.locator("button.tile", has_text="Amazon Connect").filter(has_not_text="inspector").click()
    page.wait_for_url(f"{base_url}/aws/connect/federate/**")
    assert page.locator("h1").text_content() == "Access denied"
    page.screenshot(path=shots_dir / "6-access-denied.png", full_page=True)
    _run_script(script.group(1), "127.0.0.1/32", "::1/128")

    # 7. No Connect user named like the session: "Access denied" (the demo's printed boto3
    #    script deletes agent1 from the Connect instance).
    user_script = re.search(r"python (\S+connect-user\.py) delete agent1", demo_printout)
    assert user_script is not None, demo_printout
    _run_script(user_script.group(1), "delete", "agent1")
    page.goto(f"{base_url}/apps")
    page.locator("button.tile", has_text="Amazon Connect").filter(has_not_text="inspector").click()
    page.wait_for_url(f"{base_url}/aws/connect/federate/**")
    assert page.locator("h1").text_content() == "Access denied"
    federate_url = page.url  # the console session is alive; Connect refuses the user

    # 8. Opening the instance without federating: "Session Expired" (no SP-initiated sign-in).
    direct = re.search(r"Opening (\S+) directly", demo_printout)
    assert direct is not None, demo_printout
    fresh = context.browser.new_context() if context.browser else None
    assert fresh is not None
    try:
        other = fresh.new_page()
        other.goto(direct.group(1))
        assert "Session Expired" in (other.locator("h1").text_content() or "")
    finally:
        fresh.close()

    # 9. Signing out of Sekisho: Amazon Connect has no single logout, so the signed-out
    #    page requests the instance's own /connect/logout, which ends the agent's session
    #    (the federation page now says "Session Expired", not "Access denied").
    page.goto(f"{base_url}/apps")
    page.click("form[action='/signout'] button")
    page.wait_for_selector("#signed-out")
    beacon = page.locator("img.logout-beacon")
    assert beacon.count() == 1
    assert (beacon.get_attribute("src") or "").endswith("/connect/logout")
    not_ended = " ".join(page.locator("#slo-not-ended li").all_text_contents())
    assert "Amazon Connect: it has no single sign-out" in not_ended, not_ended
    page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=TIMEOUT_MS)
    page.goto(federate_url)
    assert "Session Expired" in (page.locator("h1").text_content() or "")


def _run_script(path: str, *args: str) -> None:
    """Run one of the demo's boto3 scripts against the loopback server, never via a proxy."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    subprocess.run([sys.executable, path, *args], check=True, timeout=60, env=env)


@pytest.mark.parametrize("context", ["ja-JP"], indirect=True)
def test_signin_page_follows_accept_language_japanese(
    demo_server: DemoServer, context: BrowserContext, shots_dir: Path
) -> None:
    console = ConsoleWatch(context)
    page = context.new_page()
    response = page.goto(f"{demo_server.base_url}/signin")
    assert response is not None and response.ok
    assert page.locator("html").get_attribute("lang") == "ja"
    page.screenshot(path=shots_dir / "5-signin-ja.png", full_page=True)
    if JA_CATALOG.exists():
        assert "サインイン" in page.content()
    console.assert_clean()
