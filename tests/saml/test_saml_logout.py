"""LogoutRequest and LogoutResponse (saml-core §3.7), and the signed HTTP-Redirect encoding."""

from __future__ import annotations

import base64
import zlib
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree

from sekisho.saml.core import logout as slo
from sekisho.saml.core.bindings import redirect_url
from sekisho.saml.core.dsig import verify_element, verify_redirect_signature
from sekisho.saml.core.keys import SigningKey
from sekisho.saml.core.xml import parse_xml
from sekisho.saml.errors import (
    DestinationMismatch,
    MalformedMessage,
    RequestStale,
    RequestUnsupported,
    SignatureInvalid,
    StatusCodes,
    UnsupportedVersion,
)
from tests.saml import factory

TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
SLO = "https://idp.example.org/saml/slo"


def _request(**changes: object) -> etree._Element:
    arguments: dict[str, object] = {
        "issuer": factory.SP_ENTITY_ID,
        "destination": SLO,
        "name_id": slo.SubjectName("_abc", TRANSIENT, sp_name_qualifier=None),
        "session_indexes": ["_s1"],
        "now": factory.NOW,
        "new_id": factory.id_source("_lr"),
    }
    arguments.update(changes)
    return slo.build_logout_request(**arguments)  # type: ignore[arg-type]


def test_request_round_trip_and_enveloped_signature(idp_key: SigningKey) -> None:
    xml = slo.serialize(_request(reason="urn:oasis:names:tc:SAML:2.0:logout:user"), key=idp_key)
    root = parse_xml(xml)
    # The signature sits right after the Issuer (saml-core §5.4.1 schema order).
    assert [etree.QName(c).localname for c in root] == [
        "Issuer",
        "Signature",
        "NameID",
        "SessionIndex",
    ]
    verified = verify_element(root, trusted_certificates=[idp_key.certificate_pem])
    request = slo.parse_logout_message(verified.signed_xml)
    assert isinstance(request, slo.LogoutRequest)
    assert request.id == "_lr0001" and request.issuer == factory.SP_ENTITY_ID
    assert request.destination == SLO
    assert request.not_on_or_after == factory.NOW + timedelta(minutes=5)
    assert request.name_id == slo.SubjectName("_abc", TRANSIENT)
    assert request.session_indexes == ("_s1",)
    assert request.reason == "urn:oasis:names:tc:SAML:2.0:logout:user"
    assert request.has_signature is False  # the canonical signed form has no signature


def test_response_round_trip() -> None:
    element = slo.build_logout_response(
        issuer=factory.IDP_ENTITY_ID,
        destination="https://sp.example.test/slo",
        in_response_to="_lr0001",
        status=StatusCodes.SUCCESS,
        sub_status=StatusCodes.PARTIAL_LOGOUT,
        now=factory.NOW,
        new_id=factory.id_source("_resp"),
    )
    response = slo.parse_logout_message(slo.serialize(element, key=None))
    assert isinstance(response, slo.LogoutResponse)
    assert response.in_response_to == "_lr0001"
    assert response.status == StatusCodes.SUCCESS
    assert response.sub_status == StatusCodes.PARTIAL_LOGOUT
    assert response.succeeded is False  # partial: not every session ended


def test_signed_redirect_url_verifies(idp_key: SigningKey, attacker_key: SigningKey) -> None:
    url = redirect_url(
        "https://sp.example.test/slo?already=1",
        parameter="SAMLRequest",
        xml=slo.serialize(_request(), key=None),
        relay_state="token with spaces",
        key=idp_key,
    )
    parts = urlsplit(url)
    query = parts.query
    assert query.startswith("already=1&SAMLRequest=")
    verified = verify_redirect_signature(
        query_string=query, trusted_certificates=[idp_key.certificate_pem]
    )
    assert verified.message_parameter == "SAMLRequest"
    params = parse_qs(query)
    assert params["RelayState"] == ["token with spaces"]
    inflated = zlib.decompress(base64.b64decode(params["SAMLRequest"][0]), -15)
    assert isinstance(slo.parse_logout_message(inflated), slo.LogoutRequest)
    with pytest.raises(SignatureInvalid):
        verify_redirect_signature(
            query_string=query, trusted_certificates=[attacker_key.certificate_pem]
        )
    with pytest.raises(SignatureInvalid):
        verify_redirect_signature(
            query_string=query.replace("token+with", "token+wit"),
            trusted_certificates=[idp_key.certificate_pem],
        )


def test_unsigned_redirect_has_no_signature_parameters() -> None:
    url = redirect_url("https://sp/slo", parameter="SAMLResponse", xml=b"<x/>", key=None)
    assert "SigAlg" not in url and "Signature" not in url
    with pytest.raises(ValueError):
        redirect_url("https://sp/slo", parameter="Other", xml=b"<x/>", key=None)


def test_same_subject() -> None:
    issued = slo.SubjectName("opaque", PERSISTENT, sp_name_qualifier="https://sp")
    assert slo.same_subject(slo.SubjectName("opaque"), issued)
    assert slo.same_subject(slo.SubjectName("opaque", PERSISTENT, "https://sp"), issued)
    assert not slo.same_subject(slo.SubjectName("other", PERSISTENT), issued)
    assert not slo.same_subject(slo.SubjectName("opaque", TRANSIENT), issued)
    assert not slo.same_subject(slo.SubjectName("opaque", PERSISTENT, "https://other"), issued)


def test_freshness_and_destination() -> None:
    request = slo.parse_logout_message(slo.serialize(_request(), key=None))
    assert isinstance(request, slo.LogoutRequest)
    slo.check_logout_request(request, now=factory.NOW, expected_destinations=(SLO,))
    with pytest.raises(RequestStale):
        slo.check_logout_request(
            request, now=factory.NOW + timedelta(minutes=7), expected_destinations=(SLO,)
        )
    with pytest.raises(RequestStale):
        slo.check_logout_request(
            request, now=factory.NOW - timedelta(minutes=3), expected_destinations=(SLO,)
        )
    with pytest.raises(DestinationMismatch):
        slo.check_logout_request(request, now=factory.NOW, expected_destinations=("https://x",))


@pytest.mark.parametrize(
    ("xml", "error", "message"),
    [
        (b"<x/>", MalformedMessage, "expected a samlp:LogoutRequest or LogoutResponse"),
        (
            b'<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
            b'ID="_a" Version="1.1" IssueInstant="2026-11-27T09:00:00Z"/>',
            UnsupportedVersion,
            "Version",
        ),
        (
            b'<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
            b'ID="_a" Version="2.0" IssueInstant="2026-11-27T09:00:00Z"/>',
            MalformedMessage,
            "saml:Issuer",
        ),
        (
            b'<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
            b'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a" Version="2.0" '
            b'IssueInstant="2026-11-27T09:00:00Z"><saml:Issuer>sp</saml:Issuer>'
            b"<saml:EncryptedID/></samlp:LogoutRequest>",
            RequestUnsupported,
            "EncryptedID",
        ),
        (
            b'<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
            b'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="1bad" Version="2.0" '
            b'IssueInstant="2026-11-27T09:00:00Z"><saml:Issuer>sp</saml:Issuer></samlp:LogoutRequest>',
            MalformedMessage,
            "xs:ID",
        ),
        (
            b'<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
            b'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a" Version="2.0" '
            b'IssueInstant="2026-11-27T09:00:00Z"><saml:Issuer>sp</saml:Issuer></samlp:LogoutResponse>',
            MalformedMessage,
            "Status",
        ),
    ],
)
def test_malformed_messages(xml: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        slo.parse_logout_message(xml)
