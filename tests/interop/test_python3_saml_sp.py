"""python3-saml (OneLogin) as a complete, strict SP against Sekisho's own endpoints.

The SP reads Sekisho's metadata document, publishes its own with signing and
encryption keys, signs its AuthnRequests and logout messages, and insists on everything
it can: signed messages and assertions, encrypted assertions (wantAssertionsEncrypted),
and an AuthnContextClassRef equal to the one it requested
(failOnAuthnContextMismatch): issue 11's problems 1 and 5 seen by a real peer.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.test import Client
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from sekisho.clock import FrozenClock
from sekisho.saml import assignments
from sekisho.saml import services as saml
from sekisho.saml.core.keys import SigningKey, generate_signing_key
from tests.conftest import sign_in_registering
from tests.web.saml_helpers import sso_answer
from tests.web.test_saml_web import posted

pytestmark = [pytest.mark.interop, pytest.mark.django_db]

HOST = "sp.python3-saml.test"
SP_ENTITY = f"https://{HOST}/metadata"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
PPT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"


def _settings(client: Client, key: SigningKey, *, requested: list[str]) -> dict[str, Any]:
    idp = OneLogin_Saml2_IdPMetadataParser.parse(
        client.get("/saml/metadata").content.decode(), required_sso_binding=REDIRECT,
        required_slo_binding=REDIRECT,
    )  # fmt: skip
    settings: dict[str, Any] = {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": SP_ENTITY,
            "assertionConsumerService": {"url": f"https://{HOST}/acs", "binding": POST},
            "singleLogoutService": {"url": f"https://{HOST}/slo", "binding": REDIRECT},
            "NameIDFormat": PERSISTENT,
            "x509cert": key.certificate_b64,
            "privateKey": key.private_key_pem,
        },
        "security": {
            "authnRequestsSigned": True,
            "logoutRequestSigned": True,
            "logoutResponseSigned": True,
            "wantMessagesSigned": True,
            "wantAssertionsSigned": True,
            "wantAssertionsEncrypted": True,
            "wantNameId": True,
            "requestedAuthnContext": requested,
            "requestedAuthnContextComparison": "exact",
            "failOnAuthnContextMismatch": True,
            "signatureAlgorithm": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "digestAlgorithm": "http://www.w3.org/2001/04/xmlenc#sha256",
            "rejectDeprecatedAlgorithm": True,
        },
    }
    merged: dict[str, Any] = OneLogin_Saml2_IdPMetadataParser.merge_settings(settings, idp)
    # merge_settings copies the IdP's first NameIDFormat and its WantAuthnRequestsSigned
    # over the SP's own choices: put those back.
    merged["sp"]["NameIDFormat"] = PERSISTENT
    merged["security"].update(settings["security"])
    return merged


def _request_data(
    script: str, *, get: dict[str, str] | None = None, post: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "https": "on",
        "http_host": HOST,
        "script_name": script,
        "get_data": get or {},
        "post_data": post or {},
    }


def _refusal() -> object:
    from sekisho.audit.models import AuditRecord

    record = AuditRecord.objects.filter(event_name="Federate").last()
    return (record.record.get("errorCode"), record.record.get("errorMessage")) if record else None


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _follow(client: Client, location: str) -> str:
    while location.startswith("/"):
        response = client.get(location)
        assert response.status_code == 302, response.content[:800]
        location = response["Location"]
    return location


@pytest.fixture
def sp_key(clock: FrozenClock) -> SigningKey:
    """python3-saml's key pair (signing and encryption)."""
    return generate_signing_key(common_name=HOST, now=clock.now())


def _register(client: Client, actor, make_user, sp_key: SigningKey) -> None:  # type: ignore[no-untyped-def]
    settings = OneLogin_Saml2_Settings(_settings(client, sp_key, requested=[PPT]))
    app = saml.create_saml_app(
        name="python3-saml",
        display_name="python3-saml",
        metadata=settings.get_sp_metadata(),
        entity_id=None,
        name_id_format=None,
        name_id=None,
        attributes=["mail=${user:email};basic", "eppn=${user:eppn};basic"],
        relay_state="",
        sign_response=True,
        require_signed_requests=True,
        actor=actor,
    )
    assert app.name_id_format == PERSISTENT and app.sp_encryption_certificates
    assignments.assign(app, user=make_user("alice"), actor=actor)


def _sign_on(client: Client, settings: dict[str, Any]) -> OneLogin_Saml2_Auth:
    start = OneLogin_Saml2_Auth(_request_data("/login"), settings)
    url = start.login(return_to=f"https://{HOST}/after")
    request_id = start.get_last_request_id()
    answer = sso_answer(client, client.get(_path(url)))
    assert answer.status_code == 200, _refusal()
    fields = posted(answer.content)
    assert fields["action"] == f"https://{HOST}/acs"
    acs = OneLogin_Saml2_Auth(
        _request_data("/acs", post={"SAMLResponse": fields["SAMLResponse"]}), settings
    )
    acs.process_response(request_id=request_id)
    assert acs.get_errors() == [], acs.get_last_error_reason()
    # What was posted: the assertion encrypted (python3-saml would refuse it otherwise).
    posted_xml = base64.b64decode(fields["SAMLResponse"])
    assert b"EncryptedAssertion" in posted_xml and b"alice@example.com" not in posted_xml
    return acs


def test_strict_sso_with_the_exact_context_and_an_encrypted_assertion(
    client: Client, make_user, actor, clock: FrozenClock, sp_key: SigningKey
) -> None:
    _register(client, actor, make_user, sp_key)
    sign_in_registering(client, clock, "alice")  # MFA: Sekisho must still say PPT, as asked
    settings = _settings(client, sp_key, requested=[PPT])
    acs = _sign_on(client, settings)
    assert acs.is_authenticated()
    assert acs.get_nameid_format() == PERSISTENT and "alice" not in acs.get_nameid()
    assert acs.get_attributes() == {"mail": ["alice@example.com"], "eppn": ["alice@localhost"]}
    assert "PasswordProtectedTransport" in str(acs.get_last_response_xml())


def test_requesting_mfa_gets_it(
    client: Client, make_user, actor, clock: FrozenClock, sp_key: SigningKey
) -> None:
    _register(client, actor, make_user, sp_key)
    sign_in_registering(client, clock, "alice")
    acs = _sign_on(client, _settings(client, sp_key, requested=["https://refeds.org/profile/mfa"]))
    assert acs.is_authenticated()


def test_single_logout_started_by_the_sp(
    client: Client, make_user, actor, clock: FrozenClock, sp_key: SigningKey
) -> None:
    _register(client, actor, make_user, sp_key)
    sign_in_registering(client, clock, "alice")
    settings = _settings(client, sp_key, requested=[PPT])
    acs = _sign_on(client, settings)
    start = OneLogin_Saml2_Auth(_request_data("/logout"), settings)
    url = start.logout(
        return_to=f"https://{HOST}/bye",
        name_id=acs.get_nameid(),
        session_index=acs.get_session_index(),
        name_id_format=acs.get_nameid_format(),
        spnq=acs.get_nameid_spnq(),
    )
    request_id = start.get_last_request_id()
    answer = _follow(client, _path(url))
    assert answer.startswith(f"https://{HOST}/slo?")
    back = OneLogin_Saml2_Auth(
        _request_data("/slo", get=dict(parse_qsl(urlsplit(answer).query))), settings
    )
    back.process_slo(request_id=request_id, keep_local_session=True)
    assert back.get_errors() == [], back.get_last_error_reason()
    assert client.get("/apps")["Location"].startswith("/signin")


def test_single_logout_started_at_sekisho(
    client: Client, make_user, actor, clock: FrozenClock, sp_key: SigningKey
) -> None:
    _register(client, actor, make_user, sp_key)
    sign_in_registering(client, clock, "alice")
    settings = _settings(client, sp_key, requested=[PPT])
    _sign_on(client, settings)
    out = client.post("/signout")
    request_url = _follow(client, out["Location"])
    assert request_url.startswith(f"https://{HOST}/slo?")
    sp = OneLogin_Saml2_Auth(
        _request_data("/slo", get=dict(parse_qsl(urlsplit(request_url).query))), settings
    )
    reply = sp.process_slo(keep_local_session=True)
    assert sp.get_errors() == [], sp.get_last_error_reason()
    assert reply is not None
    done = client.get(_path(reply))
    assert done.status_code == 302
    page = client.get(done["Location"])
    assert b'<ul id="slo-ended"><li>python3-saml</li></ul>' in page.content
