"""IdP metadata out, SP metadata in (saml-metadata-2.0-os)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from saml2.metadata import entity_descriptor

from sekisho.saml.core.keys import SigningKey, certificate_pem
from sekisho.saml.core.metadata import (
    IDP_NAMEID_FORMATS,
    Endpoint,
    IdpIdentity,
    Organization,
    build_idp_metadata,
    parse_sp_metadata,
)
from sekisho.saml.core.xml import (
    BINDING_HTTP_ARTIFACT,
    BINDING_HTTP_POST,
    BINDING_HTTP_REDIRECT,
    DS,
    MD,
    SAMLP,
    XML_NS,
    parse_xml,
)
from sekisho.saml.errors import MetadataError
from tests.saml import factory, peers


def _md(local: str) -> str:
    return f"{{{MD}}}{local}"


def test_idp_metadata_shape(idp_key: SigningKey, attacker_key: SigningKey) -> None:
    xml = build_idp_metadata(
        IdpIdentity(
            entity_id="https://idp/metadata",
            sso_redirect_url="https://idp/sso?binding=redirect",
            sso_post_url="https://idp/sso",
            signing_certificate_pem=idp_key.certificate_pem,
            extra_signing_certificates=(attacker_key.certificate_pem,),
            organization=Organization(name="Acme", display_name="Acme & Co", url="https://acme"),
        ),
        want_authn_requests_signed=True,
    )
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = parse_xml(xml)
    assert root.tag == _md("EntityDescriptor")
    assert root.get("entityID") == "https://idp/metadata"
    (descriptor,) = root.findall(_md("IDPSSODescriptor"))
    assert descriptor.get("protocolSupportEnumeration") == SAMLP
    assert descriptor.get("WantAuthnRequestsSigned") == "true"
    keys = descriptor.findall(_md("KeyDescriptor"))
    assert [k.get("use") for k in keys] == ["signing", "signing"]
    certs = [k.findtext(f".//{{{DS}}}X509Certificate") for k in keys]
    assert certs == [idp_key.certificate_b64, attacker_key.certificate_b64]
    assert tuple(n.text for n in descriptor.findall(_md("NameIDFormat"))) == IDP_NAMEID_FORMATS
    services = [
        (s.get("Binding"), s.get("Location"))
        for s in descriptor.findall(_md("SingleSignOnService"))
    ]
    assert services == [
        (BINDING_HTTP_REDIRECT, "https://idp/sso?binding=redirect"),
        (BINDING_HTTP_POST, "https://idp/sso"),
    ]
    org = root.find(_md("Organization"))
    assert org is not None
    assert org.findtext(_md("OrganizationDisplayName")) == "Acme & Co"
    assert org.find(_md("OrganizationURL")).get(f"{{{XML_NS}}}lang") == "en"  # type: ignore[union-attr]
    # Schema order: KeyDescriptor, NameIDFormat, SingleSignOnService.
    order = [etree.QName(c).localname for c in descriptor]
    assert order == ["KeyDescriptor"] * 2 + ["NameIDFormat"] * 4 + ["SingleSignOnService"] * 2


def test_idp_metadata_is_not_sp_metadata() -> None:
    with pytest.raises(MetadataError, match="expected an SPSSODescriptor"):
        parse_sp_metadata(peers.idp_metadata())


def test_parse_pysaml2_sp_metadata(tmp_path: Path, attacker_key: SigningKey) -> None:
    config = peers.sp_config(tmp_path, attacker_key, sign_requests=True)
    xml = str(entity_descriptor(config)).encode()
    sp = parse_sp_metadata(xml)
    assert sp.entity_id == factory.SP_ENTITY_ID
    assert sp.authn_requests_signed is True
    assert sp.want_assertions_signed is True
    assert sp.signing_certificates == (attacker_key.certificate_pem,)
    assert sp.name_id_formats == ("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",)
    assert sp.acs == (
        Endpoint(BINDING_HTTP_POST, factory.ACS_URL, 1, None),
        Endpoint(BINDING_HTTP_ARTIFACT, peers.ARTIFACT_ACS_URL, 2, None),
    )
    assert sp.post_acs() == (Endpoint(BINDING_HTTP_POST, factory.ACS_URL, 1, None),)


def sp_xml(
    entity_id: str = "https://sp/x",
    *,
    acs: str = (
        f'<md:AssertionConsumerService Binding="{BINDING_HTTP_POST}" '
        'Location="https://sp/acs" index="0" isDefault="true"/>'
    ),
    keys: str = "",
    extra: str = "",
) -> str:
    return (
        f'<md:EntityDescriptor xmlns:md="{MD}" xmlns:ds="{DS}" entityID="{entity_id}" {extra}>'
        "<md:SPSSODescriptor protocolSupportEnumeration="
        f'"urn:oasis:names:tc:SAML:1.1:protocol {SAMLP}">'
        f"{keys}{acs}</md:SPSSODescriptor></md:EntityDescriptor>"
    )


def _acs(location: str, index: str) -> str:
    return (
        f'<md:AssertionConsumerService Binding="{BINDING_HTTP_POST}" '
        f'Location="{location}" index="{index}"/>'
    )


def _key(use: str | None, cert_b64: str) -> str:
    use_attr = f' use="{use}"' if use else ""
    return (
        f"<md:KeyDescriptor{use_attr}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>\n"
        f"{cert_b64}\n</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
    )


def test_sp_metadata_keys_by_use(idp_key: SigningKey, attacker_key: SigningKey) -> None:
    keys = _key("encryption", attacker_key.certificate_b64) + _key(None, idp_key.certificate_b64)
    sp = parse_sp_metadata(sp_xml(keys=keys).encode())
    # use="encryption" is not for signatures; no use= means both (§2.4.1.1).
    assert sp.signing_certificates == (certificate_pem(idp_key.certificate_b64),)
    assert sp.authn_requests_signed is False
    assert sp.want_assertions_signed is False
    assert sp.acs == (Endpoint(BINDING_HTTP_POST, "https://sp/acs", 0, True),)


def test_sp_metadata_valid_until() -> None:
    sp = parse_sp_metadata(sp_xml(extra='validUntil="2030-01-01T00:00:00Z"').encode())
    assert sp.valid_until is not None
    assert sp.valid_until.year == 2030


def test_entities_descriptor_with_one_sp() -> None:
    idp = peers.idp_metadata().split(b"?>", 1)[1].decode()
    xml = f'<md:EntitiesDescriptor xmlns:md="{MD}">{idp}{sp_xml()}</md:EntitiesDescriptor>'
    assert parse_sp_metadata(xml.encode()).entity_id == "https://sp/x"


def test_entities_descriptor_with_two_sps_needs_entity_id() -> None:
    both = sp_xml("urn:a") + sp_xml("urn:b")
    xml = f'<md:EntitiesDescriptor xmlns:md="{MD}">{both}</md:EntitiesDescriptor>'
    with pytest.raises(
        MetadataError, match=r"exactly one SP, got 2; pick one with entity_id= \('urn:a', 'urn:b'\)"
    ):
        parse_sp_metadata(xml.encode())
    assert parse_sp_metadata(xml.encode(), entity_id="urn:b").entity_id == "urn:b"
    with pytest.raises(MetadataError, match="'urn:c'"):
        parse_sp_metadata(xml.encode(), entity_id="urn:c")


def test_entity_id_must_match_when_given() -> None:
    with pytest.raises(MetadataError, match="expected entityID 'urn:other', got 'https://sp/x'"):
        parse_sp_metadata(sp_xml().encode(), entity_id="urn:other")


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (b"<not-xml", "not well-formed"),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><x/>', "DOCTYPE"),
        (b"<x/>", "expected md:EntityDescriptor"),
        (f'<md:Other xmlns:md="{MD}"/>'.encode(), "got md:Other"),
        (sp_xml(entity_id="").encode(), "entityID"),
        (sp_xml(acs="").encode(), "at least one AssertionConsumerService"),
        (
            sp_xml(acs=_acs("https://a", "x")).encode(),
            "unsignedShort",
        ),
        (
            sp_xml(acs=_acs("https://a", "70000")).encode(),
            "0..65535",
        ),
        (
            sp_xml(
                acs=f'<md:AssertionConsumerService Binding="{BINDING_HTTP_POST}" index="1"/>'
            ).encode(),
            "Binding and Location",
        ),
        (
            sp_xml(acs=(_acs("https://a", "1") + _acs("https://b", "1"))).encode(),
            "unique",
        ),
        (
            sp_xml(keys=_key("signing", "bm90IGEgY2VydA==")).encode(),
            "unreadable signing certificate",
        ),
        (sp_xml(extra='validUntil="soon"').encode(), "validUntil"),
        (
            sp_xml().replace(SAMLP, "urn:oasis:names:tc:SAML:1.1:protocol x").encode(),
            "SPSSODescriptor supporting",
        ),
    ],
)
def test_malformed_sp_metadata(xml: bytes, message: str) -> None:
    with pytest.raises(MetadataError, match=message):
        parse_sp_metadata(xml)


def test_sp_metadata_size_limit() -> None:
    with pytest.raises(MetadataError, match="too large"):
        parse_sp_metadata(sp_xml().encode(), max_bytes=100)
