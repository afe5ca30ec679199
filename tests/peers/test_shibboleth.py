"""Shibboleth SP 3 (Debian's libapache2-mod-shib) against a served Sekisho, in Chromium.

The SP runs with Debian's default shibboleth2.xml plus Sekisho's metadata and entity ID
(tests/peers/harness.py says exactly what changes). Covered: SP- and IdP-initiated SSO,
assertions encrypted for the SP's published key (AES-256-GCM), eppn and subject-id
accepted by the default attribute filter (shibmd:Scope), single logout started by
either side, and the SP's metadata taken from its URL and refreshed. Signed
AuthnRequests are in test_shibboleth_signing.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lxml import etree
from playwright.sync_api import Browser

from tests.peers.conftest import new_page, portal_sign_in
from tests.peers.harness import SHIB_SP_ENTITY_ID, ShibbolethSp, peer_folder
from tests.peers.shibboleth_flows import (
    ATTRIBUTES,
    environment,
    open_secure_page,
    start_shibboleth,
)
from tests.servers import Instance

pytestmark = [pytest.mark.interop, pytest.mark.browser]

XENC = "http://www.w3.org/2001/04/xmlenc#"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"


@pytest.fixture(scope="module")
def shibboleth(sekisho: Instance) -> Iterator[ShibbolethSp]:
    """Shibboleth with its default configuration; Sekisho knows it from its metadata URL."""
    with peer_folder("shibboleth") as folder:
        sp = start_shibboleth(sekisho, folder)
        try:
            assert sp.apache is not None
            sekisho.cli(
                "app",
                "create-saml",
                "shib",
                "--display-name",
                "Shibboleth SP",
                "--metadata-url",
                f"{sp.url}/Shibboleth.sso/Metadata",
                "--relay-state",
                f"{sp.url}/secure/env.cgi",
                *ATTRIBUTES,
                # The SP's TLS certificate is this test's own: trust it for the fetch.
                extra_env={"SSL_CERT_FILE": str(sp.apache.certificate)},
            )
            sekisho.cli("app", "assign", "shib", "--user", "alice")
            yield sp
        finally:
            sp.stop()


def test_sp_initiated_sso_with_an_encrypted_assertion_and_scoped_attributes(
    browser: Browser, sekisho: Instance, shibboleth: ShibbolethSp
) -> None:
    context, page, traffic = open_secure_page(browser, sekisho, shibboleth)
    try:
        env = environment(page.inner_text("body"))
        assert env.get("Shib_Identity_Provider") == f"{sekisho.base_url}/saml/metadata", (
            shibboleth.logs()
        )
        # Scoped attributes survive the default attribute-policy.xml (shibmd:Scope).
        assert env.get("eppn") == "alice@localhost", env
        assert env.get("REMOTE_USER") == "alice@localhost"
        assert env.get("subject_id", "").endswith("@localhost")
        assert env.get("affiliation") == "member@localhost"
        assert env.get("Shib_AuthnContext_Class") == (
            "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
        )
        # What went over the wire: the assertion encrypted for the SP's key, never in clear.
        (response,) = traffic.posts_to(f"{shibboleth.url}/Shibboleth.sso/SAML2/POST")
        root = etree.fromstring(response)
        assert root.find(f"{{{SAML}}}Assertion") is None
        method = root.find(
            f"{{{SAML}}}EncryptedAssertion/{{{XENC}}}EncryptedData/{{{XENC}}}EncryptionMethod"
        )
        assert method is not None
        assert method.get("Algorithm") == "http://www.w3.org/2009/xmlenc11#aes256-gcm"
        assert b"alice@localhost" not in response
    finally:
        context.close()


def test_idp_initiated_sso_from_my_applications(
    browser: Browser, sekisho: Instance, shibboleth: ShibbolethSp
) -> None:
    context, page, _traffic = new_page(browser)
    try:
        portal_sign_in(page, sekisho)
        page.click("button.tile:has-text('Shibboleth SP')")
        # Unsolicited Response, then the relay state: the SP's protected page, no new request.
        page.wait_for_url(f"{shibboleth.url}/secure/env.cgi")
        env = environment(page.inner_text("body"))
        assert env.get("eppn") == "alice@localhost", shibboleth.logs()
    finally:
        context.close()


def test_single_logout_started_at_sekisho_ends_the_sp_session(
    browser: Browser, sekisho: Instance, shibboleth: ShibbolethSp
) -> None:
    context, page, traffic = open_secure_page(browser, sekisho, shibboleth)
    try:
        page.goto(f"{sekisho.base_url}/apps")
        page.click("form[action='/signout'] button")
        page.wait_for_selector("#signed-out")
        assert page.locator("#slo-ended li").all_text_contents() == ["Shibboleth SP"]
        assert page.locator("#slo-not-ended").count() == 0
        # The LogoutRequest went by HTTP-Redirect with a detached RSA-SHA256 signature.
        sent = [f for url, f in traffic.redirected if url.endswith("/Shibboleth.sso/SLO/Redirect")]
        assert sent and sent[0]["SigAlg"].endswith("rsa-sha256") and sent[0]["Signature"]
        # The SP session is gone: the protected page asks Sekisho again, which asks for a password.
        page.goto(f"{shibboleth.url}/secure/env.cgi")
        page.wait_for_url(f"{sekisho.base_url}/signin**")
    finally:
        context.close()


def test_single_logout_started_at_the_sp_ends_the_sekisho_session(
    browser: Browser, sekisho: Instance, shibboleth: ShibbolethSp
) -> None:
    context, page, _traffic = open_secure_page(browser, sekisho, shibboleth)
    try:
        page.goto(f"{shibboleth.url}/Shibboleth.sso/Logout")
        page.wait_for_selector("text=Logout completed successfully")
        page.goto(f"{sekisho.base_url}/apps")
        page.wait_for_url(f"{sekisho.base_url}/signin**")
    finally:
        context.close()


def test_metadata_refresh_from_the_sp(sekisho: Instance, shibboleth: ShibbolethSp) -> None:
    assert shibboleth.apache is not None
    out = sekisho.cli(
        "app", "refresh", "shib", extra_env={"SSL_CERT_FILE": str(shibboleth.apache.certificate)}
    )
    assert out.startswith(f"refreshed shib from {shibboleth.url}/Shibboleth.sso/Metadata")
    # Without trusting the SP's certificate the fetch fails, and the metadata stays.
    failed = sekisho.cli("app", "refresh", "shib", check=False)
    assert failed == ""
    shown = sekisho.cli("app", "show", "shib")
    assert "CERTIFICATE_VERIFY_FAILED" in shown
    assert f"{shibboleth.url}/Shibboleth.sso/SAML2/POST" in shown


def test_the_sp_entity_is_debians_default(shibboleth: ShibbolethSp) -> None:
    root = etree.fromstring(shibboleth.metadata())
    assert root.get("entityID") == SHIB_SP_ENTITY_ID
