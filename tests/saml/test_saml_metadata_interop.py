"""What the IdP metadata publishes for real SPs, and what SP metadata Sekisho accepts (issue 11).

IdP side: algorithm support (sstc-saml-metadata-algsupport-v1.0), shibmd:Scope,
SingleLogoutService, Organization and ContactPerson, an optional enveloped signature,
validUntil and cacheDuration, all in saml-metadata-2.0-os schema order. SP side:
encryption keys and methods, SingleLogoutService, signed metadata, expiry, and
endpoints Sekisho will not send a browser to.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from lxml import etree

from sekisho.saml.core.dsig import SIG_RSA_SHA256, verify_element
from sekisho.saml.core.keys import SigningKey, certificate_pem
from sekisho.saml.core.metadata import (
    ALG,
    SHIBMD,
    ContactPerson,
    IdpIdentity,
    MetadataSigning,
    Organization,
    build_idp_metadata,
    check_metadata_current,
    parse_sp_metadata,
)
from sekisho.saml.core.xml import (
    BINDING_HTTP_POST,
    BINDING_HTTP_REDIRECT,
    DS,
    MD,
    SAMLP,
    parse_xml,
)
from sekisho.saml.errors import MetadataError
from tests.saml import factory

SOAP = "urn:oasis:names:tc:SAML:2.0:bindings:SOAP"


def _md(local: str) -> str:
    return f"{{{MD}}}{local}"


def _idp(**extra: object) -> IdpIdentity:
    return IdpIdentity(
        entity_id="https://idp.example.org/saml/metadata",
        sso_redirect_url="https://idp.example.org/saml/sso",
        sso_post_url="https://idp.example.org/saml/sso",
        signing_certificate_pem=factory.idp_key().certificate_pem,
        slo_redirect_url="https://idp.example.org/saml/slo",
        slo_post_url="https://idp.example.org/saml/slo",
        scopes=("example.org",),
        **extra,  # type: ignore[arg-type]
    )


def test_algorithms_scope_and_single_logout_in_schema_order() -> None:
    root = parse_xml(build_idp_metadata(_idp()))
    extensions = root.find(_md("Extensions"))
    assert extensions is not None
    signing = [n.get("Algorithm") for n in extensions.iter(f"{{{ALG}}}SigningMethod")]
    digests = [n.get("Algorithm") for n in extensions.iter(f"{{{ALG}}}DigestMethod")]
    # RSA-SHA256 first: Shibboleth signs with the first method both sides support.
    assert signing[0] == SIG_RSA_SHA256 and "sha1" not in " ".join(signing)
    assert digests[0] == "http://www.w3.org/2001/04/xmlenc#sha256"
    descriptor = root.find(_md("IDPSSODescriptor"))
    assert descriptor is not None
    scope = descriptor.find(f"{_md('Extensions')}/{{{SHIBMD}}}Scope")
    assert scope is not None and scope.text == "example.org" and scope.get("regexp") == "false"
    logout = [
        (s.get("Binding"), s.get("Location"))
        for s in descriptor.findall(_md("SingleLogoutService"))
    ]
    assert logout == [
        (BINDING_HTTP_REDIRECT, "https://idp.example.org/saml/slo"),
        (BINDING_HTTP_POST, "https://idp.example.org/saml/slo"),
    ]
    order = [etree.QName(c).localname for c in descriptor]
    assert order == [
        "Extensions",
        "KeyDescriptor",
        "SingleLogoutService",
        "SingleLogoutService",
        *["NameIDFormat"] * 4,
        "SingleSignOnService",
        "SingleSignOnService",
    ]
    assert [etree.QName(c).localname for c in root] == ["Extensions", "IDPSSODescriptor"]


def test_organization_and_contacts_follow_the_role() -> None:
    root = parse_xml(
        build_idp_metadata(
            _idp(
                organization=Organization(name="Acme", display_name="Acme Co", url="https://acme"),
                contacts=(
                    ContactPerson("technical", "ops@example.org", "Operations"),
                    ContactPerson("support", "help@example.org"),
                ),
            )
        )
    )
    assert [etree.QName(c).localname for c in root] == [
        "Extensions",
        "IDPSSODescriptor",
        "Organization",
        "ContactPerson",
        "ContactPerson",
    ]
    contacts = root.findall(_md("ContactPerson"))
    assert [c.get("contactType") for c in contacts] == ["technical", "support"]
    assert contacts[0].findtext(_md("GivenName")) == "Operations"
    assert contacts[0].findtext(_md("EmailAddress")) == "mailto:ops@example.org"
    assert contacts[1].find(_md("GivenName")) is None


def test_unknown_contact_type_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="contactType"):
        build_idp_metadata(_idp(contacts=(ContactPerson("security", "x@example.org"),)))


def test_signed_metadata_with_valid_until_and_cache_duration(idp_key: SigningKey) -> None:
    xml = build_idp_metadata(
        _idp(),
        valid_until=factory.NOW + timedelta(days=7),
        cache_duration=timedelta(hours=6),
        signing=MetadataSigning(key=idp_key, new_id=factory.id_source("_md")),
    )
    root = parse_xml(xml)
    assert root.get("validUntil") == "2026-12-04T09:00:00Z"
    assert root.get("cacheDuration") == "PT21600S"
    assert etree.QName(root[0]).localname == "Signature"  # first child (saml-metadata §3.1)
    verified = verify_element(root, trusted_certificates=[idp_key.certificate_pem])
    assert verified.element_id == "_md0001"
    # The signed document is what SP metadata parsing reads (it is an IdP, so refused as SP).
    tampered = xml.replace(b"example.org</shibmd:Scope>", b"evil.example</shibmd:Scope>")
    with pytest.raises(Exception, match="does not verify"):
        verify_element(parse_xml(tampered), trusted_certificates=[idp_key.certificate_pem])


def test_xmlsec1_verifies_the_signed_metadata(idp_key: SigningKey, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    xml = build_idp_metadata(
        _idp(), signing=MetadataSigning(key=idp_key, new_id=factory.id_source("_md"))
    )
    (tmp_path / "md.xml").write_bytes(xml)
    (tmp_path / "idp.crt").write_text(idp_key.certificate_pem)
    done = subprocess.run(
        [
            "xmlsec1", "--verify", "--pubkey-cert-pem", str(tmp_path / "idp.crt"),
            "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
            str(tmp_path / "md.xml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------- SP metadata


def _sp(
    *,
    descriptor: str = "",
    acs: str = "https://sp.example.org/acs",
    entity_attrs: str = "",
) -> bytes:
    return (
        f'<md:EntityDescriptor xmlns:md="{MD}" xmlns:ds="{DS}" '
        f'entityID="https://sp.example.org/sp" {entity_attrs}>'
        f'<md:SPSSODescriptor protocolSupportEnumeration="{SAMLP}">{descriptor}'
        f'<md:AssertionConsumerService Binding="{BINDING_HTTP_POST}" Location="{acs}" index="1"/>'
        "</md:SPSSODescriptor></md:EntityDescriptor>"
    ).encode()


def _key(use: str | None, key: SigningKey, methods: tuple[str, ...] = ()) -> str:
    use_attr = f' use="{use}"' if use else ""
    listed = "".join(f'<md:EncryptionMethod Algorithm="{m}"/>' for m in methods)
    return (
        f"<md:KeyDescriptor{use_attr}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>"
        f"{key.certificate_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
        f"{listed}</md:KeyDescriptor>"
    )


def test_encryption_keys_and_methods(idp_key: SigningKey, attacker_key: SigningKey) -> None:
    gcm = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
    oaep = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
    sp = parse_sp_metadata(
        _sp(descriptor=_key("signing", idp_key) + _key("encryption", attacker_key, (gcm, oaep)))
    )
    assert sp.signing_certificates == (certificate_pem(idp_key.certificate_b64),)
    assert sp.encryption_certificates == (certificate_pem(attacker_key.certificate_b64),)
    assert sp.encryption_methods == (gcm, oaep)
    both = parse_sp_metadata(_sp(descriptor=_key(None, idp_key)))
    assert both.signing_certificates == both.encryption_certificates


def test_single_logout_endpoints_front_channel_only() -> None:
    slo = (
        f'<md:SingleLogoutService Binding="{SOAP}" Location="https://sp.example.org/slo/soap"/>'
        f'<md:SingleLogoutService Binding="{BINDING_HTTP_REDIRECT}" '
        'Location="https://sp.example.org/slo" ResponseLocation="https://sp.example.org/slo/r"/>'
        f'<md:SingleLogoutService Binding="{BINDING_HTTP_POST}" Location="https://sp.example.org/slo/post"/>'
    )
    sp = parse_sp_metadata(_sp(descriptor=slo))
    assert [(e.binding, e.location, e.response_location) for e in sp.front_channel_slo()] == [
        (BINDING_HTTP_REDIRECT, "https://sp.example.org/slo", "https://sp.example.org/slo/r"),
        (BINDING_HTTP_POST, "https://sp.example.org/slo/post", None),
    ]


@pytest.mark.parametrize(
    ("acs", "message"),
    [
        ("javascript:alert(1)", "expected an https:// URL"),
        ("data:text/html,hi", "expected an https:// URL"),
        ("/relative/acs", "expected an https:// URL"),
        ("http://sp.example.org/acs", "plain http is allowed only for localhost"),
        ("https://sp.example.org/acs&#10;next", "control characters"),
        ("https://sp.example.org/a cs", "control characters and spaces"),
        ("https://sp.example.org/a&lt;cs", "'<' is not allowed in a URL"),
        ("https://user:pw@sp.example.org/acs", "user information"),
        ("https://sp.example.org/acs#frag", "fragment"),
        ("https://sp_bad.example.org/acs", "host name"),
    ],
)
def test_acs_urls_sekisho_will_not_send_browsers_to(acs: str, message: str) -> None:
    with pytest.raises(MetadataError, match=message) as info:
        parse_sp_metadata(_sp(acs=acs))
    assert "\n" not in info.value.message
    assert info.value.message.startswith("SP metadata for 'https://sp.example.org/sp': ")


def test_loopback_http_and_semicolons_are_urls() -> None:
    assert parse_sp_metadata(_sp(acs="http://localhost:8080/acs")).acs[0].location
    # ';' is legal in a URL path: it reaches the form action, never a CSP directive.
    assert parse_sp_metadata(_sp(acs="https://sp.example.org/acs;x=1")).acs[0].location


def test_an_unused_binding_is_not_checked() -> None:
    artifact = (
        '<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" '
        'Location="http://sp.example.org/artifact" index="2"/>'
    )
    assert parse_sp_metadata(_sp(descriptor=artifact)).entity_id


def test_bad_single_logout_url_refused() -> None:
    slo = f'<md:SingleLogoutService Binding="{BINDING_HTTP_REDIRECT}" Location="javascript:x"/>'
    with pytest.raises(MetadataError, match="SingleLogoutService Location"):
        parse_sp_metadata(_sp(descriptor=slo))


def _signed_sp(key: SigningKey) -> bytes:
    from sekisho.saml.core.dsig import sign_element

    root = etree.fromstring(_sp(entity_attrs='ID="_sp1"'))
    sign_element(root, key, insert_after=None)
    return etree.tostring(root)


def test_signed_sp_metadata(idp_key: SigningKey, attacker_key: SigningKey) -> None:
    signed = _signed_sp(idp_key)
    trusted = (idp_key.certificate_pem,)
    assert parse_sp_metadata(signed, trusted_certificates=trusted).entity_id
    with pytest.raises(MetadataError, match="does not verify"):
        parse_sp_metadata(_signed_sp(attacker_key), trusted_certificates=trusted)
    with pytest.raises(MetadataError, match="unsigned document"):
        parse_sp_metadata(_sp(), trusted_certificates=trusted)
    tampered = signed.replace(b"https://sp.example.org/acs", b"https://evil.example/acs")
    with pytest.raises(MetadataError, match="signature"):
        parse_sp_metadata(tampered, trusted_certificates=trusted)


def test_expired_sp_metadata_refused() -> None:
    sp = parse_sp_metadata(_sp(entity_attrs='validUntil="2026-11-27T08:59:59Z"'))
    with pytest.raises(MetadataError, match="expired: validUntil 2026-11-27T08:59:59Z"):
        check_metadata_current(sp, now=factory.NOW)
    fresh = parse_sp_metadata(_sp(entity_attrs='validUntil="2026-11-27T09:00:01Z"'))
    check_metadata_current(fresh, now=factory.NOW)


def test_entities_descriptor_valid_until_applies() -> None:
    inner = _sp().decode()
    xml = (
        f'<md:EntitiesDescriptor xmlns:md="{MD}" validUntil="2020-01-01T00:00:00Z">'
        f"{inner}</md:EntitiesDescriptor>"
    ).encode()
    sp = parse_sp_metadata(xml)
    assert sp.valid_until is not None and sp.valid_until.year == 2020
