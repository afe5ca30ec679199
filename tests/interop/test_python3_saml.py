"""python3-saml (OneLogin) in strict mode as AWS sign-in would be, judging Sekisho's Response."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from sekisho.saml.core import presets
from sekisho.saml.core.response import encode_post
from tests.saml import factory, peers

pytestmark = pytest.mark.interop

AWS_ACS = "https://signin.aws.amazon.com/saml"
# What python3-saml derives the current URL from; strict mode compares it to Destination.
REQUEST_DATA = {"https": "on", "http_host": "signin.aws.amazon.com", "script_name": "/saml"}


def aws_sp_settings(*, want_response_signed: bool = False) -> OneLogin_Saml2_Settings:
    """AWS sign-in's SP side (entityID urn:amazon:webservices) trusting Sekisho."""
    settings: dict[str, Any] = {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": "urn:amazon:webservices",
            "assertionConsumerService": {
                "url": AWS_ACS,
                "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
            },
            "NameIDFormat": "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
        },
        "idp": {
            "entityId": factory.IDP_ENTITY_ID,
            "singleSignOnService": {
                "url": "https://idp.sekisho.test/saml/sso",
                "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
            },
            "x509cert": factory.idp_key().certificate_b64,
        },
        "security": {
            "wantAssertionsSigned": True,
            "wantMessagesSigned": want_response_signed,
            "wantNameId": True,
            "wantAttributeStatement": True,
            "rejectDeprecatedAlgorithm": True,
            "requestedAuthnContext": False,
        },
    }
    return OneLogin_Saml2_Settings(settings, sp_validation_only=True)


def _now() -> datetime:
    # python3-saml judges validity windows with the real clock.
    return datetime.now(UTC).replace(microsecond=0)


def test_connect_response_accepted_in_strict_mode() -> None:
    xml = factory.connect_response(now=_now())
    response = OneLogin_Saml2_Response(aws_sp_settings(), encode_post(xml))
    valid = response.is_valid(REQUEST_DATA)
    assert response.get_error() is None
    assert valid is True
    assert response.get_nameid() == "alice"
    assert response.get_nameid_format() == "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
    assert response.get_issuers() == [factory.IDP_ENTITY_ID]
    assert response.get_audiences() == ["urn:amazon:webservices"]
    assert response.get_attributes() == {
        presets.AWS_ROLE: [
            "arn:aws:iam::123456789012:role/ConnectAgent,"
            "arn:aws:iam::123456789012:saml-provider/Sekisho"
        ],
        presets.AWS_ROLE_SESSION_NAME: ["alice"],
        presets.AWS_SESSION_DURATION: ["3600"],
    }
    assert response.get_session_index() == "_session1"
    assert response.get_assertion_id() == "_id0002"


def test_response_and_assertion_signed_accepted() -> None:
    xml = factory.connect_response(now=_now(), sign_response=True)
    response = OneLogin_Saml2_Response(aws_sp_settings(want_response_signed=True), encode_post(xml))
    assert response.is_valid(REQUEST_DATA), response.get_error()


def test_nasty_values_accepted_and_equal() -> None:
    text = "a<b & \"c\" 'd' <!----> ]]> é 😀"
    xml = factory.connect_response(
        now=_now(),
        attributes=(
            factory.spec().attributes[0].__class__(name="Nasty<&>", values=(text,)),
            *factory.spec().attributes,
        ),
    )
    response = OneLogin_Saml2_Response(aws_sp_settings(), encode_post(xml))
    assert response.is_valid(REQUEST_DATA), response.get_error()
    assert response.get_attributes()["Nasty<&>"] == [text]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"role/ConnectAgent", b"role/Administrator"),
        (b">alice<", b">admin<"),
        (b"urn:amazon:webservices", b"urn:amazon:webservice"),
    ],
    ids=["role", "nameid", "audience"],
)
def test_tampered_response_rejected(old: bytes, new: bytes) -> None:
    xml = factory.connect_response(now=_now())
    assert old in xml
    response = OneLogin_Saml2_Response(aws_sp_settings(), encode_post(xml.replace(old, new, 1)))
    assert response.is_valid(REQUEST_DATA) is False
    assert response.get_error()


def test_untrusted_key_rejected() -> None:
    xml = factory.connect_response(key=factory.attacker_key(), now=_now())
    response = OneLogin_Saml2_Response(aws_sp_settings(), encode_post(xml))
    assert response.is_valid(REQUEST_DATA) is False
    assert "Signature validation failed" in (response.get_error() or "")


def test_expired_response_rejected() -> None:
    xml = factory.connect_response(now=datetime(2020, 1, 1, tzinfo=UTC))
    response = OneLogin_Saml2_Response(aws_sp_settings(), encode_post(xml))
    assert response.is_valid(REQUEST_DATA) is False


def test_python3_saml_reads_our_idp_metadata() -> None:
    parsed = OneLogin_Saml2_IdPMetadataParser.parse(
        peers.idp_metadata(want_authn_requests_signed=True).decode(),
        required_sso_binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
    )
    idp = parsed["idp"]
    assert idp["entityId"] == factory.IDP_ENTITY_ID
    assert idp["singleSignOnService"]["url"] == peers.SSO_URL
    assert idp["x509cert"] == factory.idp_key().certificate_b64
    assert parsed["security"]["authnRequestsSigned"] is True
