"""Shibboleth SP 3 signing its AuthnRequests, by HTTP-Redirect and by HTTP-POST.

``signing="true"`` (and ``outgoingBindings`` for POST) is what a Shibboleth administrator
sets for an IdP that requires signed requests; Sekisho's application requires them
(``--require-signed-requests``). Shibboleth picks RSA-SHA256 because Sekisho's metadata
says it supports it (alg:SigningMethod); without that it signs with RSA-SHA1, which
Sekisho refuses (issue 11, problem 3).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from tests.peers.conftest import new_page
from tests.peers.harness import BINDING_POST, ShibbolethSp, peer_folder, strip_algorithm_support
from tests.peers.shibboleth_flows import (
    ATTRIBUTES,
    authn_request_algorithm,
    environment,
    open_secure_page,
    start_shibboleth,
)
from tests.servers import Instance

pytestmark = [pytest.mark.interop, pytest.mark.browser]


@pytest.mark.parametrize("outgoing", [None, BINDING_POST], ids=["signed-redirect", "signed-post"])
def test_signed_authn_requests_with_rsa_sha256(
    browser: Browser, sekisho: Instance, outgoing: str | None
) -> None:
    options = {"signing": "true"} | ({"outgoing_bindings": outgoing} if outgoing else {})
    with peer_folder("shibboleth-signing") as folder:
        sp = start_shibboleth(sekisho, folder, **options)
        try:
            metadata = folder / "sp-metadata.xml"
            metadata.write_bytes(sp.metadata())
            sekisho.cli(
                "app",
                "create-saml",
                "shib-signed",
                "--metadata",
                str(metadata),
                "--require-signed-requests",
                *ATTRIBUTES,
            )
            sekisho.cli("app", "assign", "shib-signed", "--user", "alice")
            context, page, traffic = open_secure_page(browser, sekisho, sp)
            try:
                assert environment(page.inner_text("body")).get("eppn") == "alice@localhost"
                algorithm = authn_request_algorithm(traffic, sekisho, post=outgoing is not None)
                assert algorithm == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
            finally:
                context.close()
        finally:
            sp.stop()
            sekisho.cli("app", "delete", "shib-signed", check=False)


def test_without_algorithm_metadata_shibboleth_signs_with_sha1_and_is_refused(
    browser: Browser, sekisho: Instance
) -> None:
    """Issue 11, problem 3: why the metadata must carry alg:SigningMethod."""
    with peer_folder("shibboleth-sha1") as folder:
        sp = ShibbolethSp(
            root=folder,
            idp_entity_id=f"{sekisho.base_url}/saml/metadata",
            idp_metadata=strip_algorithm_support(sekisho.cli("metadata").encode()),
            signing="true",
            outgoing_bindings=BINDING_POST,
        )
        sp.configure()
        try:
            sp.start()
            metadata = folder / "sp-metadata.xml"
            metadata.write_bytes(sp.metadata())
            sekisho.cli(
                "app",
                "create-saml",
                "shib-sha1",
                "--metadata",
                str(metadata),
                "--require-signed-requests",
            )
            context, page, traffic = new_page(browser)
            try:
                page.goto(f"{sp.url}/secure/env.cgi")
                page.wait_for_selector("[data-error-code='saml_signature']")
                assert authn_request_algorithm(traffic, sekisho, post=True) == (
                    "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
                )
            finally:
                context.close()
        finally:
            sp.stop()
            sekisho.cli("app", "delete", "shib-sha1", check=False)
