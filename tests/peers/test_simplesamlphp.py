"""SimpleSAMLphp 1.19 (Debian's simplesamlphp) as an SP against a served Sekisho, in Chromium.

``default-sp`` runs with Debian's configuration plus Sekisho's metadata as an XML
metadata source (tests/peers/harness.py). Its metadata declares no NameIDFormat and its
AuthnRequests ask for a transient NameID, which Sekisho now honours (issue 11, problem
2). Covered: SP- and IdP-initiated SSO, attributes, single logout both ways; then, with
the key pair SimpleSAMLphp's documentation has an SP add, signed HTTP-Redirect
AuthnRequests, required encrypted assertions and signed logout messages.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lxml import etree
from playwright.sync_api import Browser, BrowserContext, Page

from tests.peers.conftest import Traffic, new_page, page_text, portal_sign_in, sign_in
from tests.peers.harness import SimpleSamlPhpSp, peer_folder
from tests.servers import Instance

pytestmark = [pytest.mark.interop, pytest.mark.browser]

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
XENC = "http://www.w3.org/2001/04/xmlenc#"
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
ATTRIBUTES = ("--attribute", "mail=${user:email}", "--attribute", "displayName=${user:name}")


def _start(sekisho: Instance, *, keys: bool, name: str) -> Iterator[SimpleSamlPhpSp]:
    with peer_folder("simplesamlphp") as folder:
        sp = SimpleSamlPhpSp(root=folder, idp_metadata=sekisho.cli("metadata").encode(), keys=keys)
        sp.configure()
        try:
            sp.start()
            metadata = folder / "sp-metadata.xml"
            metadata.write_bytes(sp.metadata())
            sekisho.cli(
                "app", "create-saml", name, "--display-name", f"SimpleSAMLphp {name}",
                "--metadata", str(metadata),
                "--relay-state", f"{sp.url}/module.php/core/authenticate.php?as=default-sp",
                *ATTRIBUTES,
            )  # fmt: skip
            sekisho.cli("app", "assign", name, "--user", "alice")
            yield sp
        finally:
            sp.stop()
            sekisho.cli("app", "delete", name, check=False)


@pytest.fixture(scope="module")
def simplesamlphp(sekisho: Instance) -> Iterator[SimpleSamlPhpSp]:
    """default-sp exactly as Debian ships it (no key pair)."""
    yield from _start(sekisho, keys=False, name="ssp")


def _sp_initiated(
    browser: Browser, sekisho: Instance, sp: SimpleSamlPhpSp
) -> tuple[BrowserContext, Page, Traffic]:
    context, page, traffic = new_page(browser)
    page.goto(f"{sp.url}/module.php/core/authenticate.php?as=default-sp")
    # SimpleSAMLphp's own discovery page, listing the one IdP it knows: Sekisho.
    page.wait_for_url("**/saml/disco.php**")
    page.click("input[type=submit], button[type=submit]")
    sign_in(page, sekisho)
    page.wait_for_url(f"{sp.url}/module.php/core/authenticate.php?as=default-sp")
    return context, page, traffic


def _check_status_page(page: Page, sp: SimpleSamlPhpSp) -> None:
    text = page_text(page)
    assert "alice@example.com" in text, text + sp.logs()
    assert "Alice Liddell" in text
    assert TRANSIENT in text


def test_sp_initiated_sso_with_a_transient_name_id(
    browser: Browser, sekisho: Instance, simplesamlphp: SimpleSamlPhpSp
) -> None:
    context, page, traffic = _sp_initiated(browser, sekisho, simplesamlphp)
    try:
        _check_status_page(page, simplesamlphp)
        (request,) = [f for url, f in traffic.redirected if url == f"{sekisho.base_url}/saml/sso"]
        assert "Signature" not in request  # Debian's default-sp does not sign
    finally:
        context.close()


def test_idp_initiated_sso(
    browser: Browser, sekisho: Instance, simplesamlphp: SimpleSamlPhpSp
) -> None:
    context, page, _traffic = new_page(browser)
    try:
        portal_sign_in(page, sekisho)
        page.click("button.tile:has-text('SimpleSAMLphp ssp')")
        page.wait_for_url(f"{simplesamlphp.url}/module.php/core/authenticate.php?as=default-sp")
        text = page_text(page)
        assert "alice@example.com" in text, text + simplesamlphp.logs()
    finally:
        context.close()


def test_single_logout_started_at_sekisho(
    browser: Browser, sekisho: Instance, simplesamlphp: SimpleSamlPhpSp
) -> None:
    context, page, _traffic = _sp_initiated(browser, sekisho, simplesamlphp)
    try:
        page.goto(f"{sekisho.base_url}/apps")
        page.click("form[action='/signout'] button")
        page.wait_for_selector("#signed-out")
        assert page.locator("#slo-ended li").all_text_contents() == ["SimpleSAMLphp ssp"]
        # SimpleSAMLphp's session is gone: its protected page starts a new sign-in (the
        # discovery page remembers Sekisho, so straight to Sekisho's sign-in page).
        page.goto(f"{simplesamlphp.url}/module.php/core/authenticate.php?as=default-sp")
        page.wait_for_url(f"{sekisho.base_url}/signin**")
    finally:
        context.close()


def test_single_logout_started_at_the_sp(
    browser: Browser, sekisho: Instance, simplesamlphp: SimpleSamlPhpSp
) -> None:
    context, page, traffic = _sp_initiated(browser, sekisho, simplesamlphp)
    try:
        page.goto(f"{simplesamlphp.url}/module.php/core/authenticate.php?as=default-sp&logout")
        page.wait_for_url(f"{simplesamlphp.url}/logout.php")
        assert "You have been logged out" in page_text(page)
        # Unsigned (default-sp has no key), and accepted because it names the SessionIndex.
        (request,) = [f for url, f in traffic.redirected if url == f"{sekisho.base_url}/saml/slo"]
        assert "Signature" not in request
        page.goto(f"{sekisho.base_url}/apps")
        page.wait_for_url(f"{sekisho.base_url}/signin**")
    finally:
        context.close()


@pytest.fixture(scope="module")
def simplesamlphp_keys(
    sekisho: Instance, simplesamlphp: SimpleSamlPhpSp
) -> Iterator[SimpleSamlPhpSp]:
    """default-sp with a key pair, signing requests and requiring encrypted assertions."""
    yield from _start(sekisho, keys=True, name="ssp-keys")


def test_signed_requests_encrypted_assertions_and_signed_logout(
    browser: Browser, sekisho: Instance, simplesamlphp_keys: SimpleSamlPhpSp
) -> None:
    sp = simplesamlphp_keys
    context, page, traffic = _sp_initiated(browser, sekisho, sp)
    try:
        _check_status_page(page, sp)
        (request,) = [f for url, f in traffic.redirected if url == f"{sekisho.base_url}/saml/sso"]
        assert request["SigAlg"].endswith("rsa-sha256") and request["Signature"]
        (response,) = traffic.posts_to(f"{sp.url}/module.php/saml/sp/saml2-acs.php/default-sp")
        root = etree.fromstring(response)
        assert root.find(f"{{{SAML}}}Assertion") is None
        method = root.find(
            f"{{{SAML}}}EncryptedAssertion/{{{XENC}}}EncryptedData/{{{XENC}}}EncryptionMethod"
        )
        assert method is not None
        assert method.get("Algorithm") == "http://www.w3.org/2009/xmlenc11#aes256-gcm"

        page.goto(f"{sp.url}/module.php/core/authenticate.php?as=default-sp&logout")
        page.wait_for_url(f"{sp.url}/logout.php")
        (logout,) = [f for url, f in traffic.redirected if url == f"{sekisho.base_url}/saml/slo"]
        assert logout["Signature"]  # required now: the SP publishes a signing key
    finally:
        context.close()
