"""Shibboleth SP steps shared by the tests: start an SP for a Sekisho, read what it got."""

from __future__ import annotations

from pathlib import Path

from lxml import etree
from playwright.sync_api import Browser, BrowserContext, Page

from tests.peers.conftest import Traffic, new_page, sign_in
from tests.peers.harness import ShibbolethSp
from tests.servers import Instance

DS = "http://www.w3.org/2000/09/xmldsig#"
# eduPerson and SAML subject-id attributes Shibboleth's default attribute-map.xml knows.
ATTRIBUTES = (
    "--attribute",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.6=${user:eppn};uri",
    "--attribute",
    "urn:oasis:names:tc:SAML:attribute:subject-id=${user:subjectId};uri",
    "--attribute",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.9=member@localhost;uri",
)


def start_shibboleth(sekisho: Instance, folder: Path, **options: str) -> ShibbolethSp:
    """Configure and start a Shibboleth SP trusting this Sekisho's current metadata."""
    sp = ShibbolethSp(
        root=folder,
        idp_entity_id=f"{sekisho.base_url}/saml/metadata",
        idp_metadata=sekisho.cli("metadata").encode(),
        **options,  # type: ignore[arg-type]
    )
    sp.configure()
    try:
        sp.start()
    except BaseException:
        sp.stop()
        raise
    return sp


def environment(text: str) -> dict[str, str]:
    """The CGI page's environment as a dict (mod_shib exports attributes there).

    CGI turns '-' in variable names into '_' (Shib_Identity_Provider, subject_id).
    """
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def open_secure_page(
    browser: Browser, sekisho: Instance, sp: ShibbolethSp
) -> tuple[BrowserContext, Page, Traffic]:
    """A fresh browser opens the SP's protected page: SP-initiated SSO through Sekisho."""
    context, page, traffic = new_page(browser)
    page.goto(f"{sp.url}/secure/env.cgi")
    sign_in(page, sekisho)
    page.wait_for_url(f"{sp.url}/secure/env.cgi", timeout=30_000)
    return context, page, traffic


def authn_request_algorithm(traffic: Traffic, sekisho: Instance, *, post: bool) -> str:
    """The AuthnRequest signature algorithm the SP used (POST: enveloped; Redirect: SigAlg)."""
    if post:
        (request,) = traffic.posts_to(f"{sekisho.base_url}/saml/sso")
        method = etree.fromstring(request).find(
            f"{{{DS}}}Signature/{{{DS}}}SignedInfo/{{{DS}}}SignatureMethod"
        )
        assert method is not None, request[:2000]
        return str(method.get("Algorithm"))
    sent = [f for url, f in traffic.redirected if url == f"{sekisho.base_url}/saml/sso"]
    assert sent and "Signature" in sent[0], traffic.redirected
    return sent[0]["SigAlg"]
