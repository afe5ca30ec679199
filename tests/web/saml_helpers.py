"""Helpers to play a SAML SP in web tests: metadata, AuthnRequests, both bindings."""

from __future__ import annotations

import base64
import zlib
from datetime import datetime
from urllib.parse import quote_plus

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from sekisho.saml.core.keys import SigningKey, certificate_b64

SP_ENTITY = "https://sp.example.test/metadata"
SP_ACS = "https://sp.example.test/acs"
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


def sp_metadata(*, cert: SigningKey | None = None, sign_requests: bool = False) -> bytes:
    """A minimal SP EntityDescriptor with one HTTP-POST ACS."""
    key = ""
    if cert is not None:
        key = (
            '<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
            f"<ds:X509Data><ds:X509Certificate>{certificate_b64(cert.certificate_pem)}"
            "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        )
    return (
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'entityID="{SP_ENTITY}">'
        f'<md:SPSSODescriptor AuthnRequestsSigned="{"true" if sign_requests else "false"}" '
        'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f"{key}"
        '<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
        f'Location="{SP_ACS}" index="0" isDefault="true"/>'
        "</md:SPSSODescriptor></md:EntityDescriptor>"
    ).encode()


def authn_request(
    *,
    request_id: str = "_req1",
    now: datetime,
    acs: str | None = SP_ACS,
    issuer: str = SP_ENTITY,
    destination: str | None = None,
    force_authn: bool = False,
    is_passive: bool = False,
    name_id_format: str | None = None,
    subject: str | None = None,
    requested_context: str | None = None,
) -> bytes:
    """An AuthnRequest (saml-core §3.4.1) as an SP would send it."""
    root = etree.Element(f"{{{SAMLP}}}AuthnRequest", nsmap={"samlp": SAMLP, "saml": SAML})
    root.set("ID", request_id)
    root.set("Version", "2.0")
    root.set("IssueInstant", now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if destination:
        root.set("Destination", destination)
    if acs:
        root.set("AssertionConsumerServiceURL", acs)
        root.set("ProtocolBinding", "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST")
    if force_authn:
        root.set("ForceAuthn", "true")
    if is_passive:
        root.set("IsPassive", "true")
    etree.SubElement(root, f"{{{SAML}}}Issuer").text = issuer
    if subject:
        subject_element = etree.SubElement(root, f"{{{SAML}}}Subject")
        etree.SubElement(subject_element, f"{{{SAML}}}NameID").text = subject
    if name_id_format:
        policy = etree.SubElement(root, f"{{{SAMLP}}}NameIDPolicy")
        policy.set("Format", name_id_format)
        policy.set("AllowCreate", "true")
    if requested_context:
        requested = etree.SubElement(root, f"{{{SAMLP}}}RequestedAuthnContext")
        requested.set("Comparison", "exact")
        etree.SubElement(requested, f"{{{SAML}}}AuthnContextClassRef").text = requested_context
    return etree.tostring(root)


def redirect_query(xml: bytes, *, relay_state: str = "", key: SigningKey | None = None) -> str:
    """The HTTP-Redirect binding's query string (saml-bindings §3.4.4.1), optionally signed."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = compressor.compress(xml) + compressor.flush()
    query = "SAMLRequest=" + quote_plus(base64.b64encode(deflated).decode())
    if relay_state:
        query += "&RelayState=" + quote_plus(relay_state)
    if key is not None:
        query += "&SigAlg=" + quote_plus(RSA_SHA256)
        private = serialization.load_pem_private_key(key.private_key_pem.encode(), None)
        assert isinstance(private, rsa.RSAPrivateKey)
        signature = private.sign(query.encode(), padding.PKCS1v15(), hashes.SHA256())
        query += "&Signature=" + quote_plus(base64.b64encode(signature).decode())
    return query


def generate_sp_key(now: datetime) -> SigningKey:
    from sekisho.saml.core.keys import generate_signing_key

    return generate_signing_key(common_name="sp.example.test", now=now)


SP_SLO = "https://sp.example.test/slo"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


def rich_sp_metadata(
    *,
    entity_id: str = SP_ENTITY,
    acs: str = SP_ACS,
    signing: SigningKey | None = None,
    encryption: SigningKey | None = None,
    encryption_methods: tuple[str, ...] = (),
    slo_bindings: tuple[str, ...] = (),
    name_id_formats: tuple[str, ...] = (),
) -> bytes:
    """SP metadata with what real SPs publish: keys by use, EncryptionMethod, SLO, formats."""

    def key(use: str, cert: SigningKey, methods: tuple[str, ...] = ()) -> str:
        listed = "".join(f'<md:EncryptionMethod Algorithm="{m}"/>' for m in methods)
        return (
            f'<md:KeyDescriptor use="{use}"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
            f"{certificate_b64(cert.certificate_pem)}</ds:X509Certificate></ds:X509Data>"
            f"</ds:KeyInfo>{listed}</md:KeyDescriptor>"
        )

    keys = (key("signing", signing) if signing else "") + (
        key("encryption", encryption, encryption_methods) if encryption else ""
    )
    slo = "".join(
        f'<md:SingleLogoutService Binding="{b}" Location="{SP_SLO}"/>' for b in slo_bindings
    )
    formats = "".join(f"<md:NameIDFormat>{f}</md:NameIDFormat>" for f in name_id_formats)
    return (
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">'
        '<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f"{keys}{slo}{formats}"
        f'<md:AssertionConsumerService Binding="{POST}" Location="{acs}" index="0"/>'
        "</md:SPSSODescriptor></md:EntityDescriptor>"
    ).encode()


def sso_answer(client, response):  # type: ignore[no-untyped-def]
    """The page that posts the SSO answer: the /saml/sso response itself (a signed-in
    session by HTTP-Redirect is answered at once), or the continuation it redirects to."""
    if response.status_code == 302 and response["Location"].startswith("/saml/continue/"):
        return client.get(response["Location"])
    return response
