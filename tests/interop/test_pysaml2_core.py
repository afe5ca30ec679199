"""pysaml2 as the SP: its AuthnRequests in, Sekisho's Responses out."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.metadata import entity_descriptor
from saml2.response import StatusError, UnsolicitedResponse
from saml2.sigver import SignatureError

from sekisho.saml.core import authnrequest as ar
from sekisho.saml.core.attributes import AttributeMapping
from sekisho.saml.core.dsig import verify_redirect_signature
from sekisho.saml.core.metadata import NAMEID_PERSISTENT, parse_sp_metadata
from sekisho.saml.core.presets import assertion_spec_for, saml_app
from sekisho.saml.core.response import build_response, build_status_response, encode_post
from sekisho.saml.errors import SignatureInvalid, StatusCodes
from tests.saml import factory, peers

pytestmark = pytest.mark.interop

PERSISTENT_KEY = b"p" * 32


@pytest.fixture
def sp(tmp_path: Path) -> Saml2Client:
    config = peers.sp_config(tmp_path, factory.attacker_key(), sign_requests=False)
    config.allow_unknown_attributes = True
    return Saml2Client(config=config)


def _now() -> datetime:
    # pysaml2 judges validity windows with the real clock.
    return datetime.now(UTC).replace(microsecond=0)


def redirect_request(client: Saml2Client, *, sign: bool) -> tuple[str, bytes, str]:
    """(request id, AuthnRequest XML, raw query string) from the SP's redirect."""
    request_id, info = client.prepare_for_authenticate(
        entityid=factory.IDP_ENTITY_ID,
        relay_state="https://sp.example.test/after?x=1&y=2",
        binding=BINDING_HTTP_REDIRECT,
        sign=sign,
        sigalg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" if sign else None,
    )
    location = dict(info["headers"])["Location"]
    assert location.startswith(peers.SSO_URL + "?")
    query = urlsplit(location).query
    value = parse_qs(query)["SAMLRequest"][0]
    return request_id, ar.decode_redirect_message(value), query


def post_request(client: Saml2Client, *, sign: bool) -> tuple[str, bytes]:
    """(request id, AuthnRequest XML) from the SP's auto-submitting form."""
    request_id, info = client.prepare_for_authenticate(
        entityid=factory.IDP_ENTITY_ID,
        binding=BINDING_HTTP_POST,
        sign=sign,
        sigalg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" if sign else None,
        digest_alg="http://www.w3.org/2001/04/xmlenc#sha256" if sign else None,
    )
    match = re.search(r'name="SAMLRequest" value="([^"]+)"', info["data"])
    assert match is not None
    return request_id, ar.decode_post_message(html.unescape(match.group(1)))


def sp_metadata(client: Saml2Client) -> bytes:
    return str(entity_descriptor(client.config)).encode()


def answer(client: Saml2Client, request: ar.AuthnRequest, *, now: datetime) -> bytes:
    """What Sekisho's SSO endpoint does once the user has signed in."""
    sp = parse_sp_metadata(sp_metadata(client))
    endpoint = ar.choose_acs(request, sp)
    app = saml_app(
        name="pysaml2",
        sp=sp,
        attribute_mappings=(
            AttributeMapping("mail", "${user:email}", "basic"),
            AttributeMapping("groups", "${user:groups}", "basic"),
        ),
    )
    spec = assertion_spec_for(
        app,
        user=factory.alice(),
        issuer=factory.IDP_ENTITY_ID,
        authn_instant=now,
        session_index="_session1",
        mfa_used=True,
        acs_url=endpoint.location,
        in_response_to=request.id,
        name_id_format=ar.choose_name_id_format(request, configured=app.name_id_format),
        persistent_key=PERSISTENT_KEY,
    )
    return build_response(spec, key=factory.idp_key(), now=now, new_id=factory.id_source())


def check_accepted(client: Saml2Client, request_id: str, xml: bytes) -> None:
    result = client.parse_authn_request_response(
        encode_post(xml), BINDING_HTTP_POST, outstanding={request_id: "/"}
    )
    assert result is not None
    assert result.in_response_to == request_id
    name_id = result.get_subject()
    assert name_id.format == NAMEID_PERSISTENT
    assert len(name_id.text) == 43
    assert name_id.sp_name_qualifier == factory.SP_ENTITY_ID
    assert result.ava == {"mail": ["alice@example.test"], "groups": ["agents", "supervisors"]}
    assert result.issuer() == factory.IDP_ENTITY_ID


@pytest.mark.parametrize("sign", [False, True], ids=["unsigned", "signed"])
def test_redirect_binding_round_trip(tmp_path: Path, sign: bool) -> None:
    config = peers.sp_config(tmp_path, factory.attacker_key(), sign_requests=sign)
    config.allow_unknown_attributes = True
    client = Saml2Client(config=config)
    request_id, xml, query = redirect_request(client, sign=sign)
    request = ar.parse_authn_request(xml)
    assert request.id == request_id
    assert request.issuer == factory.SP_ENTITY_ID
    assert request.destination == peers.SSO_URL
    assert request.acs_url == factory.ACS_URL
    assert request.protocol_binding == BINDING_HTTP_POST
    assert request.has_signature is False  # the Redirect binding signs the query string
    now = _now()
    ar.check_request_freshness(request, now=now)
    sp = parse_sp_metadata(sp_metadata(client))
    ar.check_destination(request, expected_destinations=(peers.SSO_URL,), signed=sign)
    if sign:
        result = verify_redirect_signature(
            query_string=query, trusted_certificates=sp.signing_certificates
        )
        assert result.message_parameter == "SAMLRequest"
        with pytest.raises(SignatureInvalid):
            verify_redirect_signature(
                query_string=query.replace("RelayState=https", "RelayState=http"),
                trusted_certificates=sp.signing_certificates,
            )
    check_accepted(client, request_id, answer(client, request, now=now))


@pytest.mark.parametrize("sign", [False, True], ids=["unsigned", "signed"])
def test_post_binding_round_trip(tmp_path: Path, sign: bool) -> None:
    config = peers.sp_config(tmp_path, factory.attacker_key(), sign_requests=sign)
    config.allow_unknown_attributes = True
    client = Saml2Client(config=config)
    request_id, xml = post_request(client, sign=sign)
    request = ar.parse_authn_request(xml)
    assert request.id == request_id
    assert request.has_signature is sign
    sp = parse_sp_metadata(sp_metadata(client))
    if sign:
        verified = ar.verify_authn_request_signature(
            xml, trusted_certificates=sp.signing_certificates
        )
        assert verified.element_id == request_id
        with pytest.raises(SignatureInvalid):
            ar.verify_authn_request_signature(
                xml.replace(factory.ACS_URL.encode(), b"https://evil.example/acs"),
                trusted_certificates=sp.signing_certificates,
            )
    check_accepted(client, request_id, answer(client, request, now=_now()))


def test_response_for_another_request_rejected(sp: Saml2Client) -> None:
    request_id, xml, _ = redirect_request(sp, sign=False)
    request = ar.parse_authn_request(xml)
    response = answer(sp, replace(request, id="_someone_else"), now=_now())
    with pytest.raises(UnsolicitedResponse, match="_someone_else"):
        sp.parse_authn_request_response(
            encode_post(response), BINDING_HTTP_POST, outstanding={request_id: "/"}
        )


def test_tampered_response_rejected(sp: Saml2Client) -> None:
    request_id, xml, _ = redirect_request(sp, sign=False)
    response = answer(sp, ar.parse_authn_request(xml), now=_now())
    tampered = response.replace(b"alice@example.test", b"admin@example.test")
    with pytest.raises(SignatureError):
        sp.parse_authn_request_response(
            encode_post(tampered), BINDING_HTTP_POST, outstanding={request_id: "/"}
        )


def test_status_response_understood(sp: Saml2Client) -> None:
    request_id, xml, _ = redirect_request(sp, sign=False)
    request = ar.parse_authn_request(xml)
    status = build_status_response(
        issuer=factory.IDP_ENTITY_ID,
        destination=factory.ACS_URL,
        in_response_to=request.id,
        status=StatusCodes.RESPONDER,
        sub_status=StatusCodes.NO_PASSIVE,
        message="sign-in needed",
        now=_now(),
        new_id=factory.id_source(),
        key=factory.idp_key(),
    )
    with pytest.raises(StatusError, match="sign-in needed"):
        sp.parse_authn_request_response(
            encode_post(status), BINDING_HTTP_POST, outstanding={request_id: "/"}
        )
