"""AuthnRequest intake: binding decoding, parsing, ACS choice and request checks."""

from __future__ import annotations

import base64
import time
import zlib
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from lxml import etree

from sekisho.saml.core.authnrequest import (
    AuthnRequest,
    check_destination,
    check_request_freshness,
    choose_acs,
    choose_authn_context,
    choose_name_id_format,
    decode_post_message,
    decode_redirect_message,
    default_acs,
    parse_authn_request,
    verify_authn_request_signature,
)
from sekisho.saml.core.dsig import sign_element
from sekisho.saml.core.keys import SigningKey
from sekisho.saml.core.metadata import (
    NAMEID_EMAIL,
    NAMEID_PERSISTENT,
    NAMEID_UNSPECIFIED,
    Endpoint,
    SpMetadata,
)
from sekisho.saml.core.response import (
    AUTHN_CONTEXT_MFA,
    AUTHN_CONTEXT_PAPE_MULTI_FACTOR,
    AUTHN_CONTEXT_PASSWORD,
    AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT,
)
from sekisho.saml.core.xml import BINDING_HTTP_ARTIFACT, BINDING_HTTP_POST
from sekisho.saml.errors import (
    AcsNotRegistered,
    DestinationMismatch,
    InvalidNameIDPolicy,
    MalformedMessage,
    NoAuthnContext,
    RequestStale,
    SignatureInvalid,
    SignatureRequired,
    StatusCodes,
    UnsupportedBinding,
    UnsupportedVersion,
)
from tests.saml import factory

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"


def request_xml(
    *,
    attributes: str = 'AssertionConsumerServiceURL="https://sp/acs"',
    issuer: str = "<saml:Issuer>https://sp/metadata</saml:Issuer>",
    body: str = "",
    version: str = 'Version="2.0"',
    request_id: str = 'ID="_req1"',
    instant: str = 'IssueInstant="2026-11-27T08:59:30Z"',
    root: str = "samlp:AuthnRequest",
) -> bytes:
    return (
        f'<{root} xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" {request_id} {version} {instant} '
        f'Destination="https://idp/sso" {attributes}>{issuer}{body}</{root}>'
    ).encode()


# ------------------------------------------------------------------ decoding


def test_redirect_round_trip() -> None:
    xml = request_xml()
    assert decode_redirect_message(factory.deflate_b64(xml)) == xml


def test_redirect_tolerates_unencoded_plus() -> None:
    xml = request_xml() * 3
    encoded = factory.deflate_b64(xml)
    assert decode_redirect_message(encoded.replace("+", " ")) == xml


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty"),
        ("@@@@", "base64"),
        (base64.b64encode(b"not deflate at all").decode(), "DEFLATE"),
        (base64.b64encode(zlib.compress(b"<a/>")).decode(), "DEFLATE"),  # zlib header: not raw
    ],
)
def test_redirect_refusals(value: str, message: str) -> None:
    with pytest.raises(MalformedMessage, match=message):
        decode_redirect_message(value)


def test_redirect_truncated_stream() -> None:
    encoded = factory.deflate_b64(request_xml())
    truncated = base64.b64encode(base64.b64decode(encoded)[:20]).decode()
    with pytest.raises(MalformedMessage, match="truncated"):
        decode_redirect_message(truncated)


def test_redirect_deflate_bomb_is_bounded() -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = compressor.compress(b"\0" * 50_000_000) + compressor.flush()
    assert len(bomb) < 64 * 1024
    with pytest.raises(MalformedMessage, match="at most 65536 bytes once inflated"):
        decode_redirect_message(base64.b64encode(bomb).decode(), max_bytes=64 * 1024)


def test_redirect_encoded_size_checked_first() -> None:
    with pytest.raises(MalformedMessage, match="too large"):
        decode_redirect_message("A" * 300, max_bytes=100)


def test_post_round_trip_with_line_breaks() -> None:
    xml = request_xml()
    encoded = factory.b64(xml)
    wrapped = "\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    assert decode_post_message(wrapped) == xml


@pytest.mark.parametrize("value", ["", "%%%", "abc"])
def test_post_refusals(value: str) -> None:
    with pytest.raises(MalformedMessage):
        decode_post_message(value)


def test_post_oversize() -> None:
    with pytest.raises(MalformedMessage, match="expected at most 10 bytes, got 12"):
        decode_post_message(factory.b64(b"x" * 12), max_bytes=10)


# ------------------------------------------------------------------ parsing


def test_parse_full_request() -> None:
    xml = request_xml(
        attributes=(
            'AssertionConsumerServiceURL="https://sp/acs" '
            f'ProtocolBinding="{BINDING_HTTP_POST}" ForceAuthn="true" IsPassive="0" '
            'ProviderName="SP &amp; Co"'
        ),
        body=(
            f'<samlp:NameIDPolicy Format="{NAMEID_PERSISTENT}" AllowCreate="1" '
            'SPNameQualifier="urn:q"/>'
            '<samlp:RequestedAuthnContext Comparison="minimum">'
            f"<saml:AuthnContextClassRef>{AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT}"
            "</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>"
        ),
    )
    request = parse_authn_request(xml)
    assert request == AuthnRequest(
        id="_req1",
        issuer="https://sp/metadata",
        issue_instant=factory.NOW - timedelta(seconds=30),
        destination="https://idp/sso",
        acs_url="https://sp/acs",
        acs_index=None,
        protocol_binding=BINDING_HTTP_POST,
        force_authn=True,
        is_passive=False,
        name_id_policy_format=NAMEID_PERSISTENT,
        allow_create=True,
        sp_name_qualifier="urn:q",
        requested_authn_contexts=(AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT,),
        authn_context_comparison="minimum",
        provider_name="SP & Co",
        subject_name_id=None,
        has_signature=False,
    )


def test_parse_minimal_request_with_index_and_subject() -> None:
    request = parse_authn_request(
        request_xml(
            attributes='AssertionConsumerServiceIndex="3"',
            body="<saml:Subject><saml:NameID>bob</saml:NameID></saml:Subject>",
        )
    )
    assert request.acs_index == 3
    assert request.acs_url is None
    assert request.subject_name_id == "bob"
    assert request.force_authn is False
    assert request.authn_context_comparison == "exact"


def test_issuer_text_read_past_comments() -> None:
    request = parse_authn_request(
        request_xml(issuer="<saml:Issuer>https://sp/<!-- x -->metadata</saml:Issuer>")
    )
    assert request.issuer == "https://sp/metadata"


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (request_xml(root="samlp:LogoutRequest"), "expected a samlp:AuthnRequest"),
        (request_xml(version=""), 'Version="2.0"'),
        (request_xml(request_id=""), "xs:ID"),
        (request_xml(request_id='ID="1bad"'), "xs:ID"),
        (request_xml(issuer=""), "saml:Issuer"),
        (request_xml(issuer="<saml:Issuer> </saml:Issuer>"), "non-empty"),
        (
            request_xml(issuer=f'<saml:Issuer Format="{NAMEID_EMAIL}">x</saml:Issuer>'),
            "Issuer Format",
        ),
        (request_xml(instant=""), "IssueInstant"),
        (request_xml(instant='IssueInstant="now"'), "IssueInstant"),
        (
            request_xml(
                attributes='AssertionConsumerServiceURL="https://sp/acs" '
                'AssertionConsumerServiceIndex="1"'
            ),
            "alone",
        ),
        (request_xml(attributes='AssertionConsumerServiceIndex="x"'), "integer"),
        (request_xml(attributes='ForceAuthn="yes"'), "ForceAuthn"),
        (
            request_xml(body='<samlp:RequestedAuthnContext Comparison="most"/>'),
            "Comparison",
        ),
        (
            request_xml(body="<samlp:NameIDPolicy/><samlp:NameIDPolicy/>"),
            "at most one <NameIDPolicy>",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            + request_xml(issuer="<saml:Issuer>&x;</saml:Issuer>"),
            "DOCTYPE",
        ),
        (b"<samlp:AuthnRequest", "well-formed"),
    ],
)
def test_malformed_requests(xml: bytes, message: str) -> None:
    with pytest.raises(MalformedMessage, match=message):
        parse_authn_request(xml)


def test_billion_laughs_request() -> None:
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)
    )
    xml = f"<!DOCTYPE r [{entities}]>".encode() + request_xml(
        issuer="<saml:Issuer>&i;</saml:Issuer>"
    )
    started = time.perf_counter()
    # libxml2 stops the expansion itself (amplification limit) or the DOCTYPE is refused.
    with pytest.raises(MalformedMessage, match=r"DOCTYPE|amplification"):
        parse_authn_request(xml)
    assert time.perf_counter() - started < 1


def test_oversize_request() -> None:
    with pytest.raises(MalformedMessage, match="too large"):
        parse_authn_request(request_xml(), max_bytes=100)


@pytest.mark.parametrize(
    ("version", "sub"),
    [("1.1", StatusCodes.REQUEST_VERSION_TOO_LOW), ("3.0", StatusCodes.REQUEST_VERSION_TOO_HIGH)],
)
def test_version_mismatch_status(version: str, sub: str) -> None:
    with pytest.raises(UnsupportedVersion) as info:
        parse_authn_request(request_xml(version=f'Version="{version}"'))
    assert info.value.status is not None
    assert info.value.status.top == StatusCodes.VERSION_MISMATCH
    assert info.value.status.sub == sub
    assert isinstance(info.value, MalformedMessage)


def test_signed_post_request(idp_key: SigningKey, attacker_key: SigningKey) -> None:
    root = etree.fromstring(request_xml())
    sign_element(root, idp_key, insert_after=root[0])
    xml = etree.tostring(root)
    assert parse_authn_request(xml).has_signature is True
    result = verify_authn_request_signature(xml, trusted_certificates=[idp_key.certificate_pem])
    assert result.element_id == "_req1"
    with pytest.raises(SignatureInvalid):
        verify_authn_request_signature(xml, trusted_certificates=[attacker_key.certificate_pem])
    with pytest.raises(SignatureInvalid):
        verify_authn_request_signature(
            xml.replace(b"https://sp/acs", b"https://evil/acs"),
            trusted_certificates=[idp_key.certificate_pem],
        )
    with pytest.raises(SignatureRequired):
        verify_authn_request_signature(
            request_xml(), trusted_certificates=[idp_key.certificate_pem]
        )


# ------------------------------------------------------------------ ACS choice

SP = SpMetadata(
    entity_id="https://sp/metadata",
    acs=(
        Endpoint(BINDING_HTTP_ARTIFACT, "https://sp/artifact", 0, True),
        Endpoint(BINDING_HTTP_POST, "https://sp/acs", 1, None),
        Endpoint(BINDING_HTTP_POST, "https://sp/acs2", 2, True),
        Endpoint(BINDING_HTTP_POST, "https://sp/acs3", 3, False),
    ),
    signing_certificates=(),
    authn_requests_signed=False,
    want_assertions_signed=True,
    name_id_formats=(),
)


def _request(**changes: object) -> AuthnRequest:
    return replace(parse_authn_request(request_xml()), **changes)  # type: ignore[arg-type]


def test_choose_acs_by_exact_url() -> None:
    assert choose_acs(_request(acs_url="https://sp/acs3"), SP).location == "https://sp/acs3"


@pytest.mark.parametrize(
    "url",
    [
        "https://sp/acs/",
        "https://SP/acs",
        "https://sp/acs?x=1",
        "https://sp/artifact",
        "https://evil/acs",
    ],
)
def test_choose_acs_refuses_unregistered_url(url: str) -> None:
    with pytest.raises(AcsNotRegistered) as info:
        choose_acs(_request(acs_url=url), SP)
    assert info.value.status is None


def test_choose_acs_by_index() -> None:
    assert choose_acs(_request(acs_url=None, acs_index=3), SP).location == "https://sp/acs3"
    with pytest.raises(AcsNotRegistered, match="unknown index 9"):
        choose_acs(_request(acs_url=None, acs_index=9), SP)
    with pytest.raises(UnsupportedBinding, match="HTTP-POST"):
        choose_acs(_request(acs_url=None, acs_index=0), SP)


def test_choose_acs_refuses_other_bindings() -> None:
    with pytest.raises(UnsupportedBinding) as info:
        choose_acs(_request(protocol_binding=BINDING_HTTP_ARTIFACT), SP)
    assert info.value.status is None


def test_default_acs_rules() -> None:
    # isDefault="true" among POST endpoints wins (the artifact default is skipped).
    assert choose_acs(_request(acs_url=None), SP).location == "https://sp/acs2"
    no_true = replace(
        SP, acs=tuple(replace(e, is_default=None if e.index == 2 else e.is_default) for e in SP.acs)
    )
    assert default_acs(no_true).location == "https://sp/acs"
    only_false = replace(SP, acs=(Endpoint(BINDING_HTTP_POST, "https://sp/f", 5, False),))
    assert default_acs(only_false).location == "https://sp/f"
    with pytest.raises(AcsNotRegistered, match="HTTP-POST"):
        default_acs(replace(SP, acs=(SP.acs[0],)))


# ------------------------------------------------------------------ checks


def test_freshness(now: datetime) -> None:
    check_request_freshness(_request(issue_instant=now), now=now)
    check_request_freshness(_request(issue_instant=now + timedelta(seconds=60)), now=now)
    check_request_freshness(_request(issue_instant=now - timedelta(seconds=360)), now=now)
    with pytest.raises(RequestStale, match="not after"):
        check_request_freshness(_request(issue_instant=now + timedelta(seconds=61)), now=now)
    with pytest.raises(RequestStale, match="within 300s") as info:
        check_request_freshness(_request(issue_instant=now - timedelta(seconds=361)), now=now)
    assert info.value.status is not None
    assert info.value.status.sub == StatusCodes.REQUEST_DENIED


def test_destination() -> None:
    ours = ("https://idp/sso",)
    check_destination(_request(), expected_destinations=ours, signed=True)
    check_destination(_request(destination=None), expected_destinations=ours, signed=False)
    with pytest.raises(DestinationMismatch, match="signed request"):
        check_destination(_request(destination=None), expected_destinations=ours, signed=True)
    with pytest.raises(DestinationMismatch, match="https://other/sso"):
        check_destination(
            _request(destination="https://other/sso"), expected_destinations=ours, signed=False
        )


def test_name_id_format_choice() -> None:
    assert choose_name_id_format(None, configured=NAMEID_EMAIL) == NAMEID_EMAIL
    for requested in (None, NAMEID_UNSPECIFIED, NAMEID_EMAIL):
        request = _request(name_id_policy_format=requested)
        assert choose_name_id_format(request, configured=NAMEID_EMAIL) == NAMEID_EMAIL
    with pytest.raises(InvalidNameIDPolicy) as info:
        choose_name_id_format(
            _request(name_id_policy_format=NAMEID_PERSISTENT), configured=NAMEID_EMAIL
        )
    assert info.value.status is not None
    assert info.value.status.sub == StatusCodes.INVALID_NAMEID_POLICY


@pytest.mark.parametrize(
    ("requested", "comparison", "mfa", "expected"),
    [
        ((), "exact", False, AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT),
        ((), "exact", True, AUTHN_CONTEXT_MFA),
        (
            (AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT,),
            "exact",
            True,
            AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT,
        ),
        ((AUTHN_CONTEXT_MFA,), "exact", True, AUTHN_CONTEXT_MFA),
        ((AUTHN_CONTEXT_PAPE_MULTI_FACTOR,), "exact", True, AUTHN_CONTEXT_PAPE_MULTI_FACTOR),
        ((AUTHN_CONTEXT_MFA,), "exact", False, None),
        ((AUTHN_CONTEXT_PASSWORD,), "minimum", False, AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT),
        ((AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT,), "minimum", True, AUTHN_CONTEXT_MFA),
        ((AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT,), "better", False, None),
        ((AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT,), "better", True, AUTHN_CONTEXT_MFA),
        (
            (AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT,),
            "maximum",
            True,
            AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT,
        ),
        ((AUTHN_CONTEXT_PASSWORD,), "maximum", True, None),
        (("urn:example:unknown",), "minimum", True, None),
    ],
)
def test_authn_context_choice(
    requested: tuple[str, ...], comparison: str, mfa: bool, expected: str | None
) -> None:
    request = _request(requested_authn_contexts=requested, authn_context_comparison=comparison)
    if expected is None:
        with pytest.raises(NoAuthnContext):
            choose_authn_context(request, mfa_used=mfa)
    else:
        assert choose_authn_context(request, mfa_used=mfa) == expected


# --- issue 11: comparisons over several classes, and formats the application allows ---

PPT = AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT
PAPE = AUTHN_CONTEXT_PAPE_MULTI_FACTOR
UNKNOWN = "urn:example:smartcard"


@pytest.mark.parametrize(
    ("requested", "comparison", "mfa", "expected"),
    [
        # exact: the first requested class that is true, in the SP's order.
        ((UNKNOWN, PPT, AUTHN_CONTEXT_MFA), "exact", True, PPT),
        ((PAPE, PPT), "exact", True, PAPE),
        ((PAPE, PPT), "exact", False, PPT),
        ((UNKNOWN,), "exact", True, None),
        ((AUTHN_CONTEXT_PASSWORD,), "exact", False, None),
        # minimum: at least as strong as one of them; the requested MFA URI is echoed.
        ((UNKNOWN, PPT), "minimum", False, PPT),
        ((PAPE,), "minimum", True, PAPE),
        ((PAPE, PPT), "minimum", False, PPT),
        # better: stronger than every one of them.
        ((AUTHN_CONTEXT_PASSWORD, PPT), "better", True, AUTHN_CONTEXT_MFA),
        ((AUTHN_CONTEXT_PASSWORD, PPT), "better", False, None),
        ((AUTHN_CONTEXT_PASSWORD,), "better", False, PPT),
        ((PPT, UNKNOWN), "better", True, None),
        ((AUTHN_CONTEXT_MFA,), "better", True, None),
        # maximum: as strong as possible without exceeding the strongest requested.
        ((PPT, PAPE), "maximum", True, PAPE),
        ((PPT, PAPE), "maximum", False, PPT),
        ((AUTHN_CONTEXT_PASSWORD,), "maximum", False, None),
    ],
)
def test_comparisons_over_several_classes(
    requested: tuple[str, ...], comparison: str, mfa: bool, expected: str | None
) -> None:
    request = _request(requested_authn_contexts=requested, authn_context_comparison=comparison)
    if expected is None:
        with pytest.raises(NoAuthnContext):
            choose_authn_context(request, mfa_used=mfa)
    else:
        assert choose_authn_context(request, mfa_used=mfa) == expected


def test_a_format_the_application_allows_is_honoured() -> None:
    transient = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
    allowed = (NAMEID_UNSPECIFIED, transient)
    request = _request(name_id_policy_format=transient)
    assert choose_name_id_format(request, configured=NAMEID_UNSPECIFIED, allowed=allowed) == (
        transient
    )
    with pytest.raises(InvalidNameIDPolicy, match=r"allows \(.*unspecified.*transient\)"):
        choose_name_id_format(
            _request(name_id_policy_format=NAMEID_PERSISTENT),
            configured=NAMEID_UNSPECIFIED,
            allowed=allowed,
        )
