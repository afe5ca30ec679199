"""SAML 2.0 metadata: the IdP's EntityDescriptor out, an SP's EntityDescriptor in.

References: saml-metadata-2.0-os §2.3 (EntityDescriptor), §2.4.3 (IDPSSODescriptor),
§2.4.4 (SPSSODescriptor), §2.4.1.1 (KeyDescriptor), §2.2.3 (IndexedEndpointType).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from sekisho.saml.core.keys import certificate_b64, certificate_pem
from sekisho.saml.core.xml import (
    BINDING_HTTP_POST,
    BINDING_HTTP_REDIRECT,
    DS,
    MD,
    SAMLP,
    XML_NS,
    Element,
    children,
    element_text,
    localname,
    namespace_of,
    parse_bool,
    parse_instant,
    parse_xml,
    qn,
    tag_of,
)
from sekisho.saml.errors import MalformedMessage, MetadataError

NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
NAMEID_TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
NAMEID_ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
IDP_NAMEID_FORMATS = (NAMEID_UNSPECIFIED, NAMEID_EMAIL, NAMEID_PERSISTENT, NAMEID_TRANSIENT)

DEFAULT_METADATA_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Organization:
    """The md:Organization block (saml-metadata §2.3.2.1); all three parts are required."""

    name: str
    display_name: str
    url: str
    lang: str = "en"


@dataclass(frozen=True)
class IdpIdentity:
    """Who this IdP is: entity ID, SSO endpoints and the signing certificate(s)."""

    entity_id: str
    sso_redirect_url: str
    sso_post_url: str
    signing_certificate_pem: str
    # Published too during key rollover, so SPs trust both old and new keys.
    extra_signing_certificates: tuple[str, ...] = ()
    organization: Organization | None = None


@dataclass(frozen=True)
class Endpoint:
    """One md:AssertionConsumerService (saml-metadata §2.2.2-§2.2.3)."""

    binding: str
    location: str
    index: int | None = None
    is_default: bool | None = None


@dataclass(frozen=True)
class SpMetadata:
    """What Sekisho needs from an SP's metadata."""

    entity_id: str
    acs: tuple[Endpoint, ...]
    signing_certificates: tuple[str, ...]
    authn_requests_signed: bool
    want_assertions_signed: bool
    name_id_formats: tuple[str, ...]
    valid_until: datetime | None = None

    def post_acs(self) -> tuple[Endpoint, ...]:
        """The HTTP-POST ACS endpoints, the only binding Sekisho responds with."""
        return tuple(e for e in self.acs if e.binding == BINDING_HTTP_POST)


def build_idp_metadata(idp: IdpIdentity, *, want_authn_requests_signed: bool = False) -> bytes:
    """Serialize the IdP's md:EntityDescriptor with an IDPSSODescriptor (saml-metadata §2.4.3)."""
    nsmap = {"md": MD, "ds": DS}
    entity = etree.Element(qn(MD, "EntityDescriptor"), nsmap=nsmap)
    entity.set("entityID", idp.entity_id)
    descriptor = etree.SubElement(entity, qn(MD, "IDPSSODescriptor"))
    descriptor.set("WantAuthnRequestsSigned", "true" if want_authn_requests_signed else "false")
    descriptor.set("protocolSupportEnumeration", SAMLP)
    for pem in (idp.signing_certificate_pem, *idp.extra_signing_certificates):
        key_descriptor = etree.SubElement(descriptor, qn(MD, "KeyDescriptor"))
        key_descriptor.set("use", "signing")
        key_info = etree.SubElement(key_descriptor, qn(DS, "KeyInfo"))
        x509_data = etree.SubElement(key_info, qn(DS, "X509Data"))
        etree.SubElement(x509_data, qn(DS, "X509Certificate")).text = certificate_b64(pem)
    for name_id_format in IDP_NAMEID_FORMATS:
        etree.SubElement(descriptor, qn(MD, "NameIDFormat")).text = name_id_format
    for binding, location in (
        (BINDING_HTTP_REDIRECT, idp.sso_redirect_url),
        (BINDING_HTTP_POST, idp.sso_post_url),
    ):
        service = etree.SubElement(descriptor, qn(MD, "SingleSignOnService"))
        service.set("Binding", binding)
        service.set("Location", location)
    if idp.organization is not None:
        org = idp.organization
        block = etree.SubElement(entity, qn(MD, "Organization"))
        for local, value in (
            ("OrganizationName", org.name),
            ("OrganizationDisplayName", org.display_name),
            ("OrganizationURL", org.url),
        ):
            item = etree.SubElement(block, qn(MD, local))
            item.set(qn(XML_NS, "lang"), org.lang)
            item.text = value
    return etree.tostring(entity, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def parse_sp_metadata(
    xml: bytes, *, entity_id: str | None = None, max_bytes: int = DEFAULT_METADATA_MAX_BYTES
) -> SpMetadata:
    """Read an SP's metadata: an EntityDescriptor, or an EntitiesDescriptor plus ``entity_id``.

    Args:
        xml: the metadata document.
        entity_id: which entity to take from an EntitiesDescriptor holding several SPs
            (optional when it holds exactly one; must match when given).
        max_bytes: refuse larger documents.

    Raises:
        MetadataError: malformed XML, no SPSSODescriptor for SAML 2.0, no usable ACS,
            an unreadable certificate, or an ambiguous/missing entity.
    """
    try:
        root = parse_xml(xml, max_bytes=max_bytes)
    except MalformedMessage as exc:
        raise MetadataError(f"SP metadata: {exc.message}") from exc
    entity = _pick_entity(root, entity_id)
    found_id = (entity.get("entityID") or "").strip()
    if not found_id:
        raise MetadataError("expected an entityID on the EntityDescriptor, got none")
    if entity_id is not None and found_id != entity_id:
        raise MetadataError(f"expected entityID {entity_id!r}, got {found_id!r}")
    descriptor = _sp_descriptor(entity, found_id)
    try:
        authn_requests_signed = bool(
            parse_bool(
                descriptor.get("AuthnRequestsSigned"), what="AuthnRequestsSigned", default=False
            )
        )
        want_assertions_signed = bool(
            parse_bool(
                descriptor.get("WantAssertionsSigned"), what="WantAssertionsSigned", default=False
            )
        )
        valid_until_text = entity.get("validUntil")
        valid_until = (
            parse_instant(valid_until_text, what="validUntil") if valid_until_text else None
        )
        acs = tuple(
            _endpoint(node) for node in children(descriptor, MD, "AssertionConsumerService")
        )
    except MalformedMessage as exc:
        raise MetadataError(f"SP metadata for {found_id!r}: {exc.message}") from exc
    if not acs:
        raise MetadataError(
            f"expected at least one AssertionConsumerService for {found_id!r}, got none"
        )
    indexes = [e.index for e in acs if e.index is not None]
    if len(indexes) != len(set(indexes)):
        raise MetadataError(f"expected unique AssertionConsumerService indexes, got {indexes}")
    return SpMetadata(
        entity_id=found_id,
        acs=acs,
        signing_certificates=_signing_certificates(descriptor, found_id),
        authn_requests_signed=authn_requests_signed,
        want_assertions_signed=want_assertions_signed,
        name_id_formats=tuple(
            element_text(n).strip() for n in children(descriptor, MD, "NameIDFormat")
        ),
        valid_until=valid_until,
    )


def _pick_entity(root: Element, entity_id: str | None) -> Element:
    if namespace_of(root) != MD:
        raise MetadataError(
            f"expected md:EntityDescriptor or md:EntitiesDescriptor, got <{tag_of(root)}>"
        )
    if localname(root) == "EntityDescriptor":
        return root
    if localname(root) != "EntitiesDescriptor":
        raise MetadataError(
            f"expected md:EntityDescriptor or md:EntitiesDescriptor, got md:{localname(root)}"
        )
    candidates = [
        e for e in root.iter(qn(MD, "EntityDescriptor")) if children(e, MD, "SPSSODescriptor")
    ]
    if entity_id is not None:
        matching = [e for e in candidates if (e.get("entityID") or "").strip() == entity_id]
        if len(matching) != 1:
            raise MetadataError(
                f"expected one SP with entityID {entity_id!r} in the EntitiesDescriptor, "
                f"got {len(matching)}"
            )
        return matching[0]
    if len(candidates) != 1:
        names = ", ".join(repr(e.get("entityID")) for e in candidates[:10])
        raise MetadataError(
            "expected an EntitiesDescriptor with exactly one SP, got "
            f"{len(candidates)}; pick one with entity_id= ({names})"
        )
    return candidates[0]


def _sp_descriptor(entity: Element, found_id: str) -> Element:
    for descriptor in children(entity, MD, "SPSSODescriptor"):
        protocols = (descriptor.get("protocolSupportEnumeration") or "").split()
        if SAMLP in protocols:
            return descriptor
    raise MetadataError(
        f"expected an SPSSODescriptor supporting {SAMLP} for {found_id!r}, got none"
    )


def _endpoint(node: Element) -> Endpoint:
    binding = (node.get("Binding") or "").strip()
    location = (node.get("Location") or "").strip()
    if not binding or not location:
        raise MalformedMessage("expected Binding and Location on AssertionConsumerService")
    index_text = node.get("index")
    index: int | None = None
    if index_text is not None:
        try:
            index = int(index_text.strip())
        except ValueError as exc:
            raise MalformedMessage(
                f"expected an unsignedShort ACS index, got {index_text[:16]!r}"
            ) from exc
        if not 0 <= index <= 65535:
            raise MalformedMessage(f"expected an ACS index 0..65535, got {index}")
    is_default = parse_bool(node.get("isDefault"), what="isDefault", default=None)
    return Endpoint(binding=binding, location=location, index=index, is_default=is_default)


def _signing_certificates(descriptor: Element, found_id: str) -> tuple[str, ...]:
    found: list[str] = []
    for key_descriptor in children(descriptor, MD, "KeyDescriptor"):
        # A KeyDescriptor without use= serves both signing and encryption (§2.4.1.1).
        if key_descriptor.get("use", "signing") != "signing":
            continue
        for node in key_descriptor.iter(qn(DS, "X509Certificate")):
            text = "".join(element_text(node).split())
            try:
                pem = certificate_pem(text)
            except ValueError as exc:
                raise MetadataError(
                    f"SP metadata for {found_id!r}: unreadable signing certificate: {exc}"
                ) from exc
            if pem not in found:
                found.append(pem)
    return tuple(found)
