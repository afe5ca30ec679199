"""Building signed SAML Responses and Assertions for Web Browser SSO.

References: saml-core-2.0-os §2.3.3 (Assertion), §2.4 (Subject), §2.5 (Conditions),
§2.7.2 (AuthnStatement), §2.7.3 (AttributeStatement), §3.2.2 (StatusResponseType),
§3.3.3 (Response); saml-profiles-2.0-os §4.1.4.2 (what an SSO Response must hold);
saml-bindings-2.0-os §3.5.4 (HTTP-POST encoding).

Everything is built as an lxml tree, never by string concatenation, so any user value is
escaped by the serializer; text XML 1.0 cannot carry is refused with MappingError.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from lxml import etree

from sekisho.saml.core.dsig import sign_element
from sekisho.saml.core.keys import SigningKey
from sekisho.saml.core.metadata import (
    NAMEID_EMAIL,
    NAMEID_ENTITY,
    NAMEID_PERSISTENT,
    NAMEID_TRANSIENT,
    NAMEID_UNSPECIFIED,
)
from sekisho.saml.core.xml import (
    SAML,
    SAMLP,
    XS,
    XSI,
    Element,
    check_xml_text,
    format_instant,
    is_ncname,
)
from sekisho.saml.core.xmlenc import EncryptionTarget, encrypt_element
from sekisho.saml.errors import StatusCodes

__all__ = [
    "ATTRNAME_FORMAT_BASIC",
    "ATTRNAME_FORMAT_UNSPECIFIED",
    "ATTRNAME_FORMAT_URI",
    "AUTHN_CONTEXT_MFA",
    "AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT",
    "NAMEID_EMAIL",
    "NAMEID_ENTITY",
    "NAMEID_PERSISTENT",
    "NAMEID_TRANSIENT",
    "NAMEID_UNSPECIFIED",
    "AssertionSpec",
    "Attribute",
    "build_response",
    "build_status_response",
    "encode_post",
]

ATTRNAME_FORMAT_BASIC: Final = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
ATTRNAME_FORMAT_URI: Final = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
ATTRNAME_FORMAT_UNSPECIFIED: Final = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"

CONFIRMATION_BEARER: Final = "urn:oasis:names:tc:SAML:2.0:cm:bearer"

AUTHN_CONTEXT_PASSWORD: Final = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"  # noqa: S105
AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT: Final = (
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"  # noqa: S105
)
# The REFEDS MFA Profile URI: the class SAML SPs that act on MFA (Shibboleth, InCommon,
# eduGAIN, many commercial SPs) request, and it means exactly what Sekisho's MFA gives:
# two distinct factors, whatever the method (TOTP, WebAuthn, RADIUS). The SAML-defined
# classes such as MobileTwoFactorContract describe specific devices and would overclaim.
AUTHN_CONTEXT_REFEDS_MFA: Final = "https://refeds.org/profile/mfa"
AUTHN_CONTEXT_PAPE_MULTI_FACTOR: Final = (
    "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
)
AUTHN_CONTEXT_MOBILE_TWO_FACTOR: Final = (
    "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract"
)
AUTHN_CONTEXT_MFA: Final = AUTHN_CONTEXT_REFEDS_MFA
# Requested classes that a Sekisho MFA sign-in satisfies (see authnrequest.choose_authn_context).
MFA_AUTHN_CONTEXTS: Final = (
    AUTHN_CONTEXT_REFEDS_MFA,
    AUTHN_CONTEXT_PAPE_MULTI_FACTOR,
    "http://schemas.microsoft.com/claims/multipleauthn",
)

# xs is used only inside xsi:type values, which exclusive C14N does not see as a use, so
# the signature names it in InclusiveNamespaces to keep the canonical form self-contained.
_INCLUSIVE_PREFIXES: Final = ("xs",)
_RESPONSE_NSMAP: Final = {"samlp": SAMLP, "saml": SAML}
# Declared on the Response root so that xs is in scope at both signed elements.
_RESPONSE_NSMAP_TYPED: Final = {"samlp": SAMLP, "saml": SAML, "xs": XS, "xsi": XSI}
_XSI_TYPE: Final = f"{{{XSI}}}type"


def _q(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


_Q_RESPONSE: Final = _q(SAMLP, "Response")
_Q_STATUS: Final = _q(SAMLP, "Status")
_Q_STATUS_CODE: Final = _q(SAMLP, "StatusCode")
_Q_STATUS_MESSAGE: Final = _q(SAMLP, "StatusMessage")
_Q_ISSUER: Final = _q(SAML, "Issuer")
_Q_ASSERTION: Final = _q(SAML, "Assertion")
_Q_ENCRYPTED_ASSERTION: Final = _q(SAML, "EncryptedAssertion")
_Q_SUBJECT: Final = _q(SAML, "Subject")
_Q_NAMEID: Final = _q(SAML, "NameID")
_Q_SUBJECT_CONFIRMATION: Final = _q(SAML, "SubjectConfirmation")
_Q_SUBJECT_CONFIRMATION_DATA: Final = _q(SAML, "SubjectConfirmationData")
_Q_CONDITIONS: Final = _q(SAML, "Conditions")
_Q_AUDIENCE_RESTRICTION: Final = _q(SAML, "AudienceRestriction")
_Q_AUDIENCE: Final = _q(SAML, "Audience")
_Q_AUTHN_STATEMENT: Final = _q(SAML, "AuthnStatement")
_Q_AUTHN_CONTEXT: Final = _q(SAML, "AuthnContext")
_Q_AUTHN_CONTEXT_CLASS_REF: Final = _q(SAML, "AuthnContextClassRef")
_Q_ATTRIBUTE_STATEMENT: Final = _q(SAML, "AttributeStatement")
_Q_ATTRIBUTE: Final = _q(SAML, "Attribute")
_Q_ATTRIBUTE_VALUE: Final = _q(SAML, "AttributeValue")


@dataclass(frozen=True)
class Attribute:
    """One saml:Attribute with string values (saml-core §2.7.3.1)."""

    name: str
    name_format: str = ATTRNAME_FORMAT_URI
    values: tuple[str, ...] = ()
    friendly_name: str | None = None


@dataclass(frozen=True)
class AssertionSpec:
    """Everything that goes into one SSO Response; times come from ``build_response``'s now."""

    issuer: str
    destination: str
    audience: str
    recipient: str
    in_response_to: str | None
    name_id: str
    name_id_format: str
    authn_instant: datetime
    session_index: str
    mfa_used: bool
    sp_name_qualifier: str | None = None
    attributes: tuple[Attribute, ...] = field(default_factory=tuple)
    session_not_on_or_after: datetime | None = None
    lifetime_seconds: int = 300
    sign_response: bool = False
    sign_assertion: bool = True
    # None: PasswordProtectedTransport, or AUTHN_CONTEXT_MFA when mfa_used.
    authn_context_class: str | None = None
    # Backdates Conditions/NotBefore for SPs whose clocks run behind; 0 means "now".
    not_before_skew_seconds: int = 0
    # Send the (signed) Assertion as an EncryptedAssertion for this SP key (saml-core §2.3.4).
    encrypt_for: EncryptionTarget | None = None


def build_response(
    spec: AssertionSpec,
    *,
    key: SigningKey,
    now: datetime,
    new_id: Callable[[], str],
    random_bytes: Callable[[int], bytes] | None = None,
) -> bytes:
    """Build, sign and serialize a samlp:Response with one bearer Assertion.

    Shape per saml-profiles §4.1.4.2: Response(Issuer, [Signature], Status=Success,
    Assertion(Issuer, Signature, Subject(NameID, bearer SubjectConfirmation with
    Recipient/NotOnOrAfter/InResponseTo, no NotBefore), Conditions(NotBefore,
    NotOnOrAfter, AudienceRestriction), AuthnStatement, [AttributeStatement])).
    The Assertion is signed before the Response so the outer signature covers the inner.
    With ``spec.encrypt_for`` the signed Assertion is then replaced by an
    EncryptedAssertion (saml-core §6.2: sign, then encrypt), and a Response signature
    covers the encrypted form; ``random_bytes`` supplies the content key and IV.

    Raises:
        MappingError: a value holds characters XML 1.0 cannot carry.
        EncryptionUnavailable: the SP's encryption key or algorithm is unusable.
        ValueError: naive datetimes, unusable IDs, or nothing to sign.
    """
    if not (spec.sign_assertion or spec.sign_response):
        raise ValueError("expected sign_assertion or sign_response to be true, got neither")
    if spec.lifetime_seconds <= 0:
        raise ValueError(f"expected a positive lifetime_seconds, got {spec.lifetime_seconds}")
    issue_instant = format_instant(now)
    not_on_or_after = format_instant(now + timedelta(seconds=spec.lifetime_seconds))
    not_before = format_instant(now - timedelta(seconds=spec.not_before_skew_seconds))

    response = etree.Element(
        _Q_RESPONSE, nsmap=_RESPONSE_NSMAP_TYPED if spec.attributes else _RESPONSE_NSMAP
    )
    _set_header(response, new_id(), issue_instant, spec.destination, spec.in_response_to)
    response_issuer = etree.SubElement(response, _Q_ISSUER)
    response_issuer.text = _text(spec.issuer, "issuer")
    status = etree.SubElement(response, _Q_STATUS)
    etree.SubElement(status, _Q_STATUS_CODE).set("Value", StatusCodes.SUCCESS)

    assertion = etree.SubElement(response, _Q_ASSERTION)
    assertion.set("ID", _checked_id(new_id()))
    assertion.set("Version", "2.0")
    assertion.set("IssueInstant", issue_instant)
    assertion_issuer = etree.SubElement(assertion, _Q_ISSUER)
    assertion_issuer.text = response_issuer.text

    subject = etree.SubElement(assertion, _Q_SUBJECT)
    name_id = etree.SubElement(subject, _Q_NAMEID)
    if spec.sp_name_qualifier is not None:
        name_id.set("SPNameQualifier", _text(spec.sp_name_qualifier, "SPNameQualifier"))
    name_id.set("Format", _text(spec.name_id_format, "NameID Format"))
    name_id.text = _text(spec.name_id, "NameID")
    confirmation = etree.SubElement(subject, _Q_SUBJECT_CONFIRMATION)
    confirmation.set("Method", CONFIRMATION_BEARER)
    data = etree.SubElement(confirmation, _Q_SUBJECT_CONFIRMATION_DATA)
    if spec.in_response_to is not None:
        data.set("InResponseTo", _text(spec.in_response_to, "InResponseTo"))
    data.set("NotOnOrAfter", not_on_or_after)
    data.set("Recipient", _text(spec.recipient, "Recipient"))

    conditions = etree.SubElement(assertion, _Q_CONDITIONS)
    conditions.set("NotBefore", not_before)
    conditions.set("NotOnOrAfter", not_on_or_after)
    restriction = etree.SubElement(conditions, _Q_AUDIENCE_RESTRICTION)
    etree.SubElement(restriction, _Q_AUDIENCE).text = _text(spec.audience, "Audience")

    statement = etree.SubElement(assertion, _Q_AUTHN_STATEMENT)
    statement.set("AuthnInstant", format_instant(spec.authn_instant))
    if spec.session_not_on_or_after is not None:
        statement.set("SessionNotOnOrAfter", format_instant(spec.session_not_on_or_after))
    statement.set("SessionIndex", _text(spec.session_index, "SessionIndex"))
    context = etree.SubElement(statement, _Q_AUTHN_CONTEXT)
    etree.SubElement(context, _Q_AUTHN_CONTEXT_CLASS_REF).text = _text(
        spec.authn_context_class
        or (AUTHN_CONTEXT_MFA if spec.mfa_used else AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT),
        "AuthnContextClassRef",
    )

    if spec.attributes:
        _add_attributes(assertion, spec.attributes)

    prefixes = _INCLUSIVE_PREFIXES if spec.attributes else ()
    if spec.sign_assertion:
        sign_element(assertion, key, insert_after=assertion_issuer, inclusive_prefixes=prefixes)
    if spec.encrypt_for is not None:
        if random_bytes is None:
            raise ValueError("expected random_bytes to encrypt the assertion, got none")
        encrypted = etree.Element(_Q_ENCRYPTED_ASSERTION)
        encrypted.append(encrypt_element(assertion, spec.encrypt_for, random_bytes=random_bytes))
        response.replace(assertion, encrypted)
    if spec.sign_response:
        sign_element(response, key, insert_after=response_issuer, inclusive_prefixes=prefixes)
    return etree.tostring(response, encoding="UTF-8", xml_declaration=True)


def _add_attributes(assertion: Element, attributes: tuple[Attribute, ...]) -> None:
    statement = etree.SubElement(assertion, _Q_ATTRIBUTE_STATEMENT)
    for attribute in attributes:
        node = etree.SubElement(statement, _Q_ATTRIBUTE)
        node.set("Name", _text(attribute.name, "attribute name"))
        node.set("NameFormat", _text(attribute.name_format, "attribute NameFormat"))
        if attribute.friendly_name is not None:
            node.set("FriendlyName", _text(attribute.friendly_name, "attribute FriendlyName"))
        what = f"value of attribute {attribute.name!r}"
        for value in attribute.values:
            value_node = etree.SubElement(node, _Q_ATTRIBUTE_VALUE)
            value_node.set(_XSI_TYPE, "xs:string")
            value_node.text = _text(value, what)


def build_status_response(
    *,
    issuer: str,
    destination: str,
    in_response_to: str | None,
    status: str,
    sub_status: str | None,
    message: str | None,
    now: datetime,
    new_id: Callable[[], str],
    key: SigningKey | None,
) -> bytes:
    """Build a Response carrying only an error Status (saml-core §3.2.2.1-§3.2.2.3).

    Send it only to an ACS taken from the SP's metadata. Signed when ``key`` is given
    (recommended: SPs such as python3-saml refuse unsigned responses in strict mode).
    """
    response = etree.Element(_Q_RESPONSE, nsmap=_RESPONSE_NSMAP)
    _set_header(response, new_id(), format_instant(now), destination, in_response_to)
    response_issuer = etree.SubElement(response, _Q_ISSUER)
    response_issuer.text = _text(issuer, "issuer")
    status_node = etree.SubElement(response, _Q_STATUS)
    code = etree.SubElement(status_node, _Q_STATUS_CODE)
    code.set("Value", _text(status, "StatusCode"))
    if sub_status is not None:
        etree.SubElement(code, _Q_STATUS_CODE).set("Value", _text(sub_status, "StatusCode"))
    if message is not None:
        etree.SubElement(status_node, _Q_STATUS_MESSAGE).text = _text(message, "StatusMessage")
    if key is not None:
        sign_element(response, key, insert_after=response_issuer)
    return etree.tostring(response, encoding="UTF-8", xml_declaration=True)


def encode_post(xml: bytes) -> str:
    """Base64-encode a message for an HTTP-POST form field (saml-bindings §3.5.4)."""
    return base64.b64encode(xml).decode("ascii")


def _set_header(
    response: Element,
    response_id: str,
    issue_instant: str,
    destination: str,
    in_response_to: str | None,
) -> None:
    response.set("ID", _checked_id(response_id))
    response.set("Version", "2.0")
    response.set("IssueInstant", issue_instant)
    response.set("Destination", _text(destination, "Destination"))
    if in_response_to is not None:
        response.set("InResponseTo", _text(in_response_to, "InResponseTo"))


def _checked_id(value: str) -> str:
    if not is_ncname(value):
        raise ValueError(f"expected new_id() to return an xs:ID, got {value[:64]!r}")
    return value


def _text(value: str, what: str) -> str:
    return check_xml_text(value, what=what)
