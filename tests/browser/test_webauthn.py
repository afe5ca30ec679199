"""Security keys and passkeys in Chromium, with virtual authenticators (CDP WebAuthn domain).

Each test runs its own `sekisho demo` so agent1 starts without any MFA device; Chromium
talks to it at http://localhost:<port>, a secure context where WebAuthn works (RP ID
"localhost").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.conftest import DemoServer, run_demo
from tests.browser.test_demo_flow import TIMEOUT_MS, ConsoleWatch

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, CDPSession, Page

pytestmark = pytest.mark.browser

# A platform authenticator with a PIN or biometric (Touch ID, Windows Hello).
PLATFORM = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
}
# A roaming security key speaking U2F only: no discoverable credentials, no PIN.
U2F_KEY = {"protocol": "u2f", "transport": "usb"}
# A FIDO2 USB key without a PIN set.
USB_KEY = {"protocol": "ctap2", "transport": "usb", "hasResidentKey": False}


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[DemoServer, Path]]:
    """A fresh `sekisho demo` for one test (the shared one's agent1 already has TOTP)."""
    log = tmp_path / "demo.log"
    with run_demo(tmp_path, log, known_password=True) as server:
        yield server, log


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 900})
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


class VirtualAuthenticator:
    """A CDP virtual authenticator attached to one page's browser context."""

    def __init__(self, page: Page, options: dict[str, Any]) -> None:
        self.cdp: CDPSession = page.context.new_cdp_session(page)
        self.cdp.send("WebAuthn.enable", {"enableUI": False})
        added = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
        self.id: str = added["authenticatorId"]

    def credentials(self) -> list[dict[str, Any]]:
        found = self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})
        credentials: list[dict[str, Any]] = found["credentials"]
        return credentials

    def set_user_verified(self, verified: bool) -> None:
        self.cdp.send(
            "WebAuthn.setUserVerified", {"authenticatorId": self.id, "isUserVerified": verified}
        )

    def remove(self) -> None:
        self.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": self.id})


def sign_in_with_password(page: Page, server: DemoServer) -> None:
    page.goto(f"{server.base_url}/signin")
    page.fill("#username", "agent1")
    page.fill("#password", server.password)
    page.click("form[action='/signin'] button[type=submit]")


def register_at_first_sign_in(page: Page, server: DemoServer, name: str) -> None:
    """Password, the method chooser, a security key or passkey, the recovery codes."""
    sign_in_with_password(page, server)
    page.wait_for_url(f"{server.base_url}/signin/mfa/register**")
    if not page.url.endswith("/signin/mfa/register/webauthn"):
        page.click("#choose-webauthn")
        page.wait_for_url(f"{server.base_url}/signin/mfa/register/webauthn")
    page.fill("#device_name", name)
    page.click("#webauthn-start")
    page.locator("#recovery-codes").wait_for()
    page.get_by_role("button", name="I saved them, continue").click()
    page.wait_for_url(f"{server.base_url}/apps")


def sign_out(page: Page, server: DemoServer) -> None:
    page.click("header form[action='/signout'] button")
    page.wait_for_url(f"{server.base_url}/signin?signed_out=1")


def test_passkey_registered_at_first_sign_in_then_signs_in_without_a_username(
    demo: tuple[DemoServer, Path], context: BrowserContext, shots_dir: Path
) -> None:
    server, _log = demo
    console = ConsoleWatch(context)
    page = context.new_page()
    authenticator = VirtualAuthenticator(page, PLATFORM)
    register_at_first_sign_in(page, server, "Touch ID")
    [credential] = authenticator.credentials()
    assert credential["isResidentCredential"] and credential["rpId"] == "localhost"
    sign_out(page, server)

    # The fingerprint is not recognised: the browser says NotAllowedError; the page says
    # so and the button tries again.
    authenticator.set_user_verified(False)
    page.locator("#passkey-signin").click()
    page.locator("[data-webauthn-message=cancelled]").wait_for()
    assert page.url == f"{server.base_url}/signin?signed_out=1"

    # No username, no password: the passkey alone (user-verified) is both factors.
    authenticator.set_user_verified(True)
    page.locator("#passkey-signin").click()
    page.wait_for_url(f"{server.base_url}/apps")
    page.screenshot(path=shots_dir / "webauthn-1-passkey-signed-in.png", full_page=True)
    console.assert_clean()


def test_u2f_security_key_after_the_password(
    demo: tuple[DemoServer, Path], context: BrowserContext, shots_dir: Path
) -> None:
    server, _log = demo
    console = ConsoleWatch(context)
    page = context.new_page()
    authenticator = VirtualAuthenticator(page, U2F_KEY)
    register_at_first_sign_in(page, server, "Old YubiKey")
    [credential] = authenticator.credentials()
    assert not credential["isResidentCredential"]
    sign_out(page, server)

    # The verify page starts the ceremony itself; the key answers at once.
    sign_in_with_password(page, server)
    page.wait_for_url(f"{server.base_url}/apps")
    assert authenticator.credentials()[0]["signCount"] >= 1
    page.screenshot(path=shots_dir / "webauthn-2-security-key.png", full_page=True)
    console.assert_clean()


def test_a_sign_count_going_backwards_is_refused(
    demo: tuple[DemoServer, Path], context: BrowserContext, shots_dir: Path
) -> None:
    server, log = demo
    page = context.new_page()
    authenticator = VirtualAuthenticator(page, USB_KEY)
    register_at_first_sign_in(page, server, "USB key")
    sign_out(page, server)
    sign_in_with_password(page, server)
    page.wait_for_url(f"{server.base_url}/apps")
    sign_out(page, server)

    # A copy of the key: the same private key and credential ID, its counter behind.
    [original] = authenticator.credentials()
    assert original["signCount"] >= 1
    authenticator.cdp.send(
        "WebAuthn.removeCredential",
        {"authenticatorId": authenticator.id, "credentialId": original["credentialId"]},
    )
    clone = {
        "credentialId": original["credentialId"],
        "isResidentCredential": False,
        "rpId": original["rpId"],
        "privateKey": original["privateKey"],
        "signCount": 0,
    }
    if original.get("userHandle"):
        clone["userHandle"] = original["userHandle"]
    authenticator.cdp.send(
        "WebAuthn.addCredential", {"authenticatorId": authenticator.id, "credential": clone}
    )

    sign_in_with_password(page, server)
    page.wait_for_url(f"{server.base_url}/signin/mfa/webauthn")
    alert = page.locator("p.alert[role=alert]").first
    alert.wait_for()
    assert "may have been copied" in (alert.text_content() or "")
    page.screenshot(path=shots_dir / "webauthn-3-clone-refused.png", full_page=True)
    # Refused, not signed in; the refusal is in the audit trail.
    page.goto(f"{server.base_url}/apps")
    page.wait_for_url(f"{server.base_url}/signin**")
    assert "CredentialVerification Failure" in log.read_text(errors="replace")


def test_a_key_is_removed_on_my_security(
    demo: tuple[DemoServer, Path], context: BrowserContext, shots_dir: Path
) -> None:
    server, _log = demo
    console = ConsoleWatch(context)
    page = context.new_page()
    first = VirtualAuthenticator(page, USB_KEY)
    register_at_first_sign_in(page, server, "First key")

    # My security asks for the password again before any change.
    page.goto(f"{server.base_url}/account")
    page.wait_for_url(f"{server.base_url}/account/verify**")
    page.fill("#password", server.password)
    page.click("form[action='/account/verify'] button[type=submit]")
    page.wait_for_url(f"{server.base_url}/account")

    # The same key again is refused by the browser (excludeCredentials): said clearly.
    page.click("#add-webauthn")
    page.fill("#device_name", "First key again")
    page.click("#webauthn-start")
    exists = page.locator("[data-webauthn-message=exists]")
    exists.wait_for()
    assert page.locator("#webauthn-start").text_content() == "Try again"

    # A second key, then the first one removed.
    first.remove()
    VirtualAuthenticator(page, USB_KEY)
    page.fill("#device_name", "Second key")
    page.click("#webauthn-start")
    page.wait_for_url(f"{server.base_url}/account")
    rows = page.locator("#devices tr[data-method=webauthn]")
    assert rows.count() == 2
    row = page.locator("#devices tr:has(input[name=name][value='First key'])")
    row.get_by_role("button", name="Remove").click()
    page.locator("p.notice", has_text="The device was removed.").wait_for()
    assert page.locator("#devices tr[data-method=webauthn]").count() == 1
    assert page.locator("#devices input[name=name]").input_value() == "Second key"
    page.screenshot(path=shots_dir / "webauthn-4-removed.png", full_page=True)
    console.assert_clean()
