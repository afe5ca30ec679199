"""SAML 2.0 metadata: the IdP's EntityDescriptor out, an SP's EntityDescriptor in.

References: saml-metadata-2.0-os §2.3 (EntityDescriptor, Organization, ContactPerson),
§2.4.1 (RoleDescriptor, KeyDescriptor, EncryptionMethod), §2.4.2 (SSODescriptor,
SingleLogoutService), §2.4.3 (IDPSSODescriptor), §2.4.4 (SPSSODescriptor), §2.2.2-§2.2.3
(endpoints), §3 (signed metadata, validUntil, cacheDuration); sstc-saml-metadata-algsupport
-v1.0 §2 (alg:DigestMethod, alg:SigningMethod); Shibboleth's shibmd:Scope (shibboleth
-metadata-1.0.xsd).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from lxml import etree

from sekisho.saml.core.dsig import (
    DIGEST_SHA256,
    DIGEST_SHA384,
    DIGEST_SHA512,
    SIG_RSA_SHA256,
    SIG_RSA_SHA384,
    SIG_RSA_SHA512,
    has_signature,
    sign_element,
    verify_element,
)
from sekisho.saml.core.keys import SigningKey, certificate_b64, certificate_pem
from sekisho.saml.core.urls import check_endpoint_url
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
    format_instant,
    localname,
    namespace_of,
    parse_bool,
    parse_instant,
    parse_xml,
    qn,
    tag_of,
)
from sekisho.saml.errors import (
    EndpointRejected,
    MalformedMessage,
    MetadataError,
    SignatureInvalid,
    SignatureRequired,
)

NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
NAMEID_TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
NAMEID_ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
IDP_NAMEID_FORMATS = (NAMEID_UNSPECIFIED, NAMEID_EMAIL, NAMEID_PERSISTENT, NAMEID_TRANSIENT)

DEFAULT_METADATA_MAX_BYTES = 1024 * 1024

ALG: Final = "urn:oasis:names:tc:SAML:metadata:algsupport"
SHIBMD: Final = "urn:mace:shibboleth:metadata:1.0"
# What Sekisho's signatures use and its verifier accepts, strongest-preferred SHA-256 first:
# SPs that sign pick from these (Shibboleth falls back to RSA-SHA1 without them).
IDP_SIGNING_METHODS: Final = (SIG_RSA_SHA256, SIG_RSA_SHA384, SIG_RSA_SHA512)
IDP_DIGEST_METHODS: Final = (DIGEST_SHA256, DIGEST_SHA384, DIGEST_SHA512)
CONTACT_TYPES: Final = ("technical", "support", "administrative", "billing", "other")


@dataclass(frozen=True)
class Organization:
    """The md:Organization block (saml-metadata §2.3.2.1); all three parts are required."""

    name: str
    display_name: str
    url: str
    lang: str = "en"


@dataclass(frozen=True)
class ContactPerson:
    """One md:ContactPerson (saml-metadata §2.3.2.2): its type and how to reach it."""

    contact_type: str
    email: str
    name: str = ""


@dataclass(frozen=True)
class IdpIdentity:
    """Who this IdP is: entity ID, endpoints, signing certificate(s) and what it publishes."""

    entity_id: str
    sso_redirect_url: str
    sso_post_url: str
    signing_certificate_pem: str
    # Published too during key rollover, so SPs trust both old and new keys.
    extra_signing_certificates: tuple[str, ...] = ()
    organization: Organization | None = None
    slo_redirect_url: str | None = None
    slo_post_url: str | None = None
    # shibmd:Scope: the domain scoped attributes (eppn, subject-id) end in.
    scopes: tuple[str, ...] = ()
    contacts: tuple[ContactPerson, ...] = ()


@dataclass(frozen=True)
class MetadataSigning:
    """How to sign the published metadata document (saml-metadata §3.1)."""

    key: SigningKey
    new_id: Callable[[], str]


@dataclass(frozen=True)
class Endpoint:
    """One md:AssertionConsumerService or md:SingleLogoutService (saml-metadata §2.2.2-§2.2.3)."""

    binding: str
    location: str
    index: int | None = None
    is_default: bool | None = None
    response_location: str | None = None


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
    encryption_certificates: tuple[str, ...] = ()
    # md:EncryptionMethod algorithms of the encryption keys, in the SP's order.
    encryption_methods: tuple[str, ...] = ()
    slo: tuple[Endpoint, ...] = ()
    cache_duration: str | None = None

    def post_acs(self) -> tuple[Endpoint, ...]:
        """The HTTP-POST ACS endpoints, the only binding Sekisho responds with."""
        return tuple(e for e in self.acs if e.binding == BINDING_HTTP_POST)

    def front_channel_slo(self) -> tuple[Endpoint, ...]:
        """The SingleLogoutService endpoints Sekisho can use: HTTP-Redirect and HTTP-POST."""
        return tuple(e for e in self.slo if e.binding in FRONT_CHANNEL_BINDINGS)


FRONT_CHANNEL_BINDINGS: Final = (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST)


def build_idp_metadata(
    idp: IdpIdentity,
    *,
    want_authn_requests_signed: bool = False,
    valid_until: datetime | None = None,
    cache_duration: timedelta | None = None,
    signing: MetadataSigning | None = None,
) -> bytes:
    """Serialize the IdP's md:EntityDescriptor with an IDPSSODescriptor (saml-metadata §2.4.3).

    Shape (schema order): [ds:Signature], md:Extensions (alg:DigestMethod and
    alg:SigningMethod, algsupport §2), md:IDPSSODescriptor (md:Extensions with
    shibmd:Scope, signing KeyDescriptors, SingleLogoutService, NameIDFormat,
    SingleSignOnService), md:Organization, md:ContactPerson. ``valid_until`` and
    ``cache_duration`` go on the EntityDescriptor (saml-metadata §3.1, §2.3.2); with
    ``signing`` the document carries an enveloped signature over its own ID.
    """
    nsmap = {"md": MD, "ds": DS, "alg": ALG}
    if idp.scopes:
        nsmap["shibmd"] = SHIBMD
    entity = etree.Element(qn(MD, "EntityDescriptor"), nsmap=nsmap)
    if signing is not None:
        entity.set("ID", signing.new_id())
    entity.set("entityID", idp.entity_id)
    if valid_until is not None:
        entity.set("validUntil", format_instant(valid_until))
    if cache_duration is not None:
        entity.set("cacheDuration", xs_duration(cache_duration))
    _algorithm_extensions(entity)
    descriptor = etree.SubElement(entity, qn(MD, "IDPSSODescriptor"))
    descriptor.set("WantAuthnRequestsSigned", "true" if want_authn_requests_signed else "false")
    descriptor.set("protocolSupportEnumeration", SAMLP)
    _scope_extensions(descriptor, idp.scopes)
    _key_descriptors(descriptor, idp)
    _services(descriptor, "SingleLogoutService", _slo_endpoints(idp))
    for name_id_format in IDP_NAMEID_FORMATS:
        etree.SubElement(descriptor, qn(MD, "NameIDFormat")).text = name_id_format
    _services(
        descriptor,
        "SingleSignOnService",
        ((BINDING_HTTP_REDIRECT, idp.sso_redirect_url), (BINDING_HTTP_POST, idp.sso_post_url)),
    )
    _organization(entity, idp.organization)
    _contacts(entity, idp.contacts)
    # Indented before signing: whitespace added afterwards would break the digest.
    etree.indent(entity, space="  ")
    if signing is not None:
        # The signature covers the whole entity, so it goes first (saml-metadata §3.1).
        sign_element(entity, signing.key, insert_after=None)
    return etree.tostring(entity, xml_declaration=True, encoding="UTF-8") + b"\n"


def xs_duration(value: timedelta) -> str:
    """Format a positive timedelta as an xs:duration in whole seconds (``PT3600S``)."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        raise ValueError(f"expected a positive duration, got {value}")
    return f"PT{seconds}S"


def _algorithm_extensions(entity: Element) -> None:
    extensions = etree.SubElement(entity, qn(MD, "Extensions"))
    for algorithm in IDP_DIGEST_METHODS:
        etree.SubElement(extensions, qn(ALG, "DigestMethod")).set("Algorithm", algorithm)
    for algorithm in IDP_SIGNING_METHODS:
        etree.SubElement(extensions, qn(ALG, "SigningMethod")).set("Algorithm", algorithm)


def _scope_extensions(descriptor: Element, scopes: Sequence[str]) -> None:
    if not scopes:
        return
    extensions = etree.SubElement(descriptor, qn(MD, "Extensions"))
    for scope in scopes:
        node = etree.SubElement(extensions, qn(SHIBMD, "Scope"))
        node.set("regexp", "false")
        node.text = scope


def _key_descriptors(descriptor: Element, idp: IdpIdentity) -> None:
    for pem in (idp.signing_certificate_pem, *idp.extra_signing_certificates):
        key_descriptor = etree.SubElement(descriptor, qn(MD, "KeyDescriptor"))
        key_descriptor.set("use", "signing")
        key_info = etree.SubElement(key_descriptor, qn(DS, "KeyInfo"))
        x509_data = etree.SubElement(key_info, qn(DS, "X509Data"))
        etree.SubElement(x509_data, qn(DS, "X509Certificate")).text = certificate_b64(pem)


def _slo_endpoints(idp: IdpIdentity) -> list[tuple[str, str]]:
    endpoints = []
    if idp.slo_redirect_url:
        endpoints.append((BINDING_HTTP_REDIRECT, idp.slo_redirect_url))
    if idp.slo_post_url:
        endpoints.append((BINDING_HTTP_POST, idp.slo_post_url))
    return endpoints


def _services(descriptor: Element, local: str, endpoints: Sequence[tuple[str, str]]) -> None:
    for binding, location in endpoints:
        service = etree.SubElement(descriptor, qn(MD, local))
        service.set("Binding", binding)
        service.set("Location", location)


def _organization(entity: Element, org: Organization | None) -> None:
    if org is None:
        return
    block = etree.SubElement(entity, qn(MD, "Organization"))
    for local, value in (
        ("OrganizationName", org.name),
        ("OrganizationDisplayName", org.display_name),
        ("OrganizationURL", org.url),
    ):
        item = etree.SubElement(block, qn(MD, local))
        item.set(qn(XML_NS, "lang"), org.lang)
        item.text = value


def _contacts(entity: Element, contacts: Sequence[ContactPerson]) -> None:
    for contact in contacts:
        if contact.contact_type not in CONTACT_TYPES:
            raise ValueError(
                f"expected a contactType of {CONTACT_TYPES}, got {contact.contact_type!r}"
            )
        person = etree.SubElement(entity, qn(MD, "ContactPerson"))
        person.set("contactType", contact.contact_type)
        if contact.name:
            etree.SubElement(person, qn(MD, "GivenName")).text = contact.name
        etree.SubElement(person, qn(MD, "EmailAddress")).text = f"mailto:{contact.email}"


def parse_sp_metadata(
    xml: bytes,
    *,
    entity_id: str | None = None,
    max_bytes: int = DEFAULT_METADATA_MAX_BYTES,
    trusted_certificates: Sequence[str] = (),
) -> SpMetadata:
    """Read an SP's metadata: an EntityDescriptor, or an EntitiesDescriptor plus ``entity_id``.

    Every endpoint Sekisho may send a browser to (HTTP-POST ACS, HTTP-Redirect and
    HTTP-POST SingleLogoutService) must pass ``urls.check_endpoint_url``.

    Args:
        xml: the metadata document.
        entity_id: which entity to take from an EntitiesDescriptor holding several SPs
            (optional when it holds exactly one; must match when given).
        max_bytes: refuse larger documents.
        trusted_certificates: when given, the document's root must carry an enveloped
            signature by one of them (saml-metadata §3.1), and only what it covers is read.

    Raises:
        MetadataError: malformed XML, a missing or bad signature, no SPSSODescriptor for
            SAML 2.0, no usable ACS, an endpoint URL Sekisho will not use, an unreadable
            certificate, or an ambiguous/missing entity.
    """
    try:
        root = parse_xml(xml, max_bytes=max_bytes)
    except MalformedMessage as exc:
        raise MetadataError(f"SP metadata: {exc.message}") from exc
    if trusted_certificates:
        root = _verified_root(root, trusted_certificates, max_bytes=max_bytes)
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
        valid_until = _earliest_valid_until(root, entity)
        acs = tuple(
            _endpoint(node) for node in children(descriptor, MD, "AssertionConsumerService")
        )
        slo = tuple(_endpoint(node) for node in children(descriptor, MD, "SingleLogoutService"))
        _check_browser_endpoints(acs, slo)
    except MalformedMessage as exc:
        raise MetadataError(f"SP metadata for {found_id!r}: {exc.message}") from exc
    except EndpointRejected as exc:
        raise MetadataError(f"SP metadata for {found_id!r}: {exc.message}") from exc
    if not acs:
        raise MetadataError(
            f"expected at least one AssertionConsumerService for {found_id!r}, got none"
        )
    indexes = [e.index for e in acs if e.index is not None]
    if len(indexes) != len(set(indexes)):
        raise MetadataError(f"expected unique AssertionConsumerService indexes, got {indexes}")
    encryption_certificates, encryption_methods = _encryption_keys(descriptor, found_id)
    return SpMetadata(
        entity_id=found_id,
        acs=acs,
        signing_certificates=_certificates(descriptor, found_id, use="signing"),
        authn_requests_signed=authn_requests_signed,
        want_assertions_signed=want_assertions_signed,
        name_id_formats=tuple(
            element_text(n).strip() for n in children(descriptor, MD, "NameIDFormat")
        ),
        valid_until=valid_until,
        encryption_certificates=encryption_certificates,
        encryption_methods=encryption_methods,
        slo=slo,
        cache_duration=entity.get("cacheDuration") or root.get("cacheDuration"),
    )


def check_metadata_current(sp: SpMetadata, *, now: datetime) -> None:
    """Refuse metadata past its validUntil (saml-metadata §3.1, "MUST NOT be used").

    Raises:
        MetadataError: naming the validUntil instant and now.
    """
    if sp.valid_until is not None and sp.valid_until <= now:
        raise MetadataError(
            f"SP metadata for {sp.entity_id!r} expired: validUntil "
            f"{format_instant(sp.valid_until)} is not after now ({format_instant(now)})"
        )


def _verified_root(root: Element, trusted: Sequence[str], *, max_bytes: int) -> Element:
    if not has_signature(root):
        raise MetadataError(
            "expected SP metadata signed by the given certificate, got an unsigned document"
        )
    try:
        verified = verify_element(root, trusted_certificates=trusted)
    except SignatureRequired as exc:
        raise MetadataError(
            "expected SP metadata signed by the given certificate, got an unsigned document"
        ) from exc
    except SignatureInvalid as exc:
        raise MetadataError(f"SP metadata signature: {exc.message}") from exc
    # Read only what the signature covers (no wrapped or appended content).
    return parse_xml(verified.signed_xml, max_bytes=max_bytes)


def _earliest_valid_until(root: Element, entity: Element) -> datetime | None:
    instants = [
        parse_instant(text, what="validUntil")
        for text in {root.get("validUntil"), entity.get("validUntil")}
        if text
    ]
    return min(instants) if instants else None


def _check_browser_endpoints(acs: Sequence[Endpoint], slo: Sequence[Endpoint]) -> None:
    for endpoint in acs:
        if endpoint.binding == BINDING_HTTP_POST:
            check_endpoint_url(endpoint.location, what="AssertionConsumerService Location")
    for endpoint in slo:
        if endpoint.binding in FRONT_CHANNEL_BINDINGS:
            check_endpoint_url(endpoint.location, what="SingleLogoutService Location")
            if endpoint.response_location is not None:
                check_endpoint_url(
                    endpoint.response_location, what="SingleLogoutService ResponseLocation"
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
        raise MalformedMessage(f"expected Binding and Location on {localname(node)}")
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
    response = node.get("ResponseLocation")
    return Endpoint(
        binding=binding,
        location=location,
        index=index,
        is_default=is_default,
        response_location=response.strip() if response is not None else None,
    )


def _certificates(descriptor: Element, found_id: str, *, use: str) -> tuple[str, ...]:
    found: list[str] = []
    for key_descriptor in children(descriptor, MD, "KeyDescriptor"):
        # A KeyDescriptor without use= serves both signing and encryption (§2.4.1.1).
        if key_descriptor.get("use", use) != use:
            continue
        for node in key_descriptor.iter(qn(DS, "X509Certificate")):
            text = "".join(element_text(node).split())
            try:
                pem = certificate_pem(text)
            except ValueError as exc:
                raise MetadataError(
                    f"SP metadata for {found_id!r}: unreadable {use} certificate: {exc}"
                ) from exc
            if pem not in found:
                found.append(pem)
    return tuple(found)


def _encryption_keys(descriptor: Element, found_id: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    methods: list[str] = []
    for key_descriptor in children(descriptor, MD, "KeyDescriptor"):
        if key_descriptor.get("use", "encryption") != "encryption":
            continue
        for node in children(key_descriptor, MD, "EncryptionMethod"):
            algorithm = (node.get("Algorithm") or "").strip()
            if algorithm and algorithm not in methods:
                methods.append(algorithm)
    return _certificates(descriptor, found_id, use="encryption"), tuple(methods)
