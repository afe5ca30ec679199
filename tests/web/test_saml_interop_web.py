"""Issue 11 through the test client: the seven interop problems, then single logout.

1. an exact RequestedAuthnContext is asserted as requested; 2. the NameID format an SP
declares or asks for; 3-4. algorithm support and shibmd:Scope in the metadata; 5.
encrypted assertions; 6. single logout; 7. ACS URLs that are checked, a CSP naming only
the ACS origin, and stored bad ACS URLs refused cleanly.
"""

from __future__ import annotations

import base64
import zlib
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import xmlsec
from django.test import Client
from django.utils import translation
from lxml import etree

from sekisho.audit.models import AuditRecord
from sekisho.clock import FrozenClock
from sekisho.mfa import services as mfa
from sekisho.mfa.methods import MfaMode
from sekisho.saml import assignments
from sekisho.saml import services as saml
from sekisho.saml.core import logout as slo
from sekisho.saml.core.bindings import redirect_url
from sekisho.saml.core.dsig import verify_element, verify_redirect_signature
from sekisho.saml.core.keys import SigningKey
from sekisho.saml.errors import MetadataError
from sekisho.saml.models import Application, SpSession
from sekisho.web.outcome import NOT_ENDED_REASONS
from tests.conftest import password_step, sign_in_registering
from tests.web.saml_helpers import (
    POST,
    REDIRECT,
    SP_ACS,
    SP_ENTITY,
    SP_SLO,
    authn_request,
    generate_sp_key,
    redirect_query,
    rich_sp_metadata,
    sso_answer,
)
from tests.web.test_saml_web import decoded, posted

pytestmark = pytest.mark.django_db

NS = {
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "alg": "urn:oasis:names:tc:SAML:metadata:algsupport",
    "shibmd": "urn:mace:shibboleth:metadata:1.0",
    "xenc": "http://www.w3.org/2001/04/xmlenc#",
}
PPT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
REFEDS_MFA = "https://refeds.org/profile/mfa"
PAPE = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
IDP_SLO = "http://localhost:8000/saml/slo"


def _app(actor, metadata: bytes, name: str = "sp", **options: object) -> Application:  # type: ignore[no-untyped-def]
    arguments: dict[str, object] = {
        "name": name,
        "display_name": f"SP {name}",
        "metadata": metadata,
        "entity_id": None,
        "name_id_format": None,
        "name_id": None,
        "attributes": ["mail=${user:email};basic"],
        "relay_state": "",
        "sign_response": False,
        "require_signed_requests": False,
        "actor": actor,
    }
    arguments.update(options)
    return saml.create_saml_app(**arguments)  # type: ignore[arg-type]


def _sso(
    client: Client, clock: FrozenClock, request_id: str = "_r1", **request: object
) -> etree._Element:
    query = redirect_query(authn_request(now=clock.now(), request_id=request_id, **request))  # type: ignore[arg-type]
    answer = sso_answer(client, client.get("/saml/sso?" + query))
    assert answer.status_code == 200, answer.content[:1000]
    return decoded(posted(answer.content))


def _context_class(root: etree._Element) -> str:
    return str(root.findtext(".//saml:AuthnContextClassRef", namespaces=NS))


# ---------------------------------------------------------------- 1. RequestedAuthnContext


def test_exact_password_protected_transport_is_asserted_after_mfa(
    client: Client, make_user, actor, clock: FrozenClock
) -> None:
    app = _app(actor, rich_sp_metadata())
    assignments.assign(app, user=make_user("alice"), actor=actor)
    sign_in_registering(client, clock, "alice")  # an MFA session
    root = _sso(client, clock, requested_context=PPT)
    assert _context_class(root) == PPT
    root = _sso(client, clock, request_id="_r2", requested_context=PAPE)
    assert _context_class(root) == PAPE
    root = _sso(client, clock, request_id="_r3")
    assert _context_class(root) == REFEDS_MFA


def test_an_mfa_class_asked_of_a_password_session_steps_up(
    client: Client, make_user, actor, clock: FrozenClock
) -> None:
    app = _app(actor, rich_sp_metadata())
    assignments.assign(app, user=make_user("alice"), actor=actor)
    mfa.configure(mode=MfaMode.DISABLED)
    assert password_step(client, "alice") == "/apps"
    query = redirect_query(authn_request(now=clock.now(), requested_context=REFEDS_MFA))
    started = client.get("/saml/sso?" + query)
    step_up = client.get(started["Location"])
    assert step_up.status_code == 302 and step_up["Location"].startswith("/signin/mfa")


def _status_of(root: etree._Element) -> list[str]:
    return [
        str(c.get("Value")) for c in root.iter("{urn:oasis:names:tc:SAML:2.0:protocol}StatusCode")
    ]


def test_nothing_that_fits_answers_no_authn_context(
    client: Client, make_user, actor, clock: FrozenClock
) -> None:
    """A class Sekisho cannot truthfully assert: the SP hears NoAuthnContext, at its ACS."""
    app = _app(actor, rich_sp_metadata())
    assignments.assign(app, user=make_user("alice"), actor=actor)
    sign_in_registering(client, clock, "alice")
    smartcard = "urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard"
    root = _sso(client, clock, requested_context=smartcard)
    assert _status_of(root) == [
        "urn:oasis:names:tc:SAML:2.0:status:Responder",
        "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext",
    ]
    assert root.find(".//saml:Assertion", NS) is None
    assert not AuditRecord.objects.filter(event_name="Federate", outcome="Success").exists()


def test_a_passive_request_needing_mfa_answers_no_passive(
    client: Client, make_user, actor, clock: FrozenClock
) -> None:
    """IsPassive forbids the step-up page: NoPassive, not a prompt (saml-core §3.4.1)."""
    app = _app(actor, rich_sp_metadata())
    assignments.assign(app, user=make_user("alice"), actor=actor)
    mfa.configure(mode=MfaMode.DISABLED)
    assert password_step(client, "alice") == "/apps"
    root = _sso(client, clock, requested_context=REFEDS_MFA, is_passive=True)
    assert _status_of(root)[-1] == "urn:oasis:names:tc:SAML:2.0:status:NoPassive"
    assert root.find(".//saml:Assertion", NS) is None


# ---------------------------------------------------------------- 2. NameID format


def test_an_sp_declaring_no_format_gets_the_transient_it_asks_for(
    client: Client, make_user, actor, clock: FrozenClock
) -> None:
    # SimpleSAMLphp's default SP: no NameIDFormat in its metadata, transient requested.
    app = _app(actor, rich_sp_metadata())
    assert app.name_id_format == "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
    # Nor does an administrator's explicit --name-id-format unspecified stop transient.
    explicit = _app(
        actor,
        rich_sp_metadata(entity_id="https://explicit.example.test/sp"),
        name="explicit",
        name_id_format="unspecified",
    )
    assert TRANSIENT in saml.allowed_name_id_formats(explicit)
    assignments.assign(app, user=make_user("alice"), actor=actor)
    sign_in_registering(client, clock, "alice")
    root = _sso(client, clock, name_id_format=TRANSIENT)
    name_id = root.find(".//saml:Subject/saml:NameID", NS)
    assert name_id is not None and name_id.get("Format") == TRANSIENT
    assert name_id.text and name_id.text.startswith("_") and "alice" not in name_id.text
    # The same SP session keeps its transient NameID (a later LogoutRequest names it).
    again = _sso(client, clock, request_id="_r2", name_id_format=TRANSIENT)
    assert again.findtext(".//saml:Subject/saml:NameID", namespaces=NS) == name_id.text


def test_the_first_declared_format_is_the_default_and_others_are_refused(
    client: Client, make_user, actor, clock: FrozenClock
) -> None:
    metadata = rich_sp_metadata(name_id_formats=("urn:example:odd", PERSISTENT, TRANSIENT))
    app = _app(actor, metadata)
    assert app.name_id_format == PERSISTENT
    assert saml.allowed_name_id_formats(app) == [PERSISTENT, TRANSIENT]
    assert app.name_id_expression == ""
    assignments.assign(app, user=make_user("alice"), actor=actor)
    sign_in_registering(client, clock, "alice")
    root = _sso(client, clock)
    assert root.find(".//saml:NameID", NS).get("Format") == PERSISTENT  # type: ignore[union-attr]
    email = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    query = redirect_query(authn_request(now=clock.now(), request_id="_r2", name_id_format=email))
    refused = decoded(posted(client.get("/saml/sso?" + query).content))
    code = refused.find("samlp:Status/samlp:StatusCode/samlp:StatusCode", NS)
    assert code is not None and code.get("Value").endswith(":InvalidNameIDPolicy")  # type: ignore[union-attr]


def test_an_administrator_override_is_the_default_format(actor) -> None:  # type: ignore[no-untyped-def]
    email = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    app = _app(
        actor, rich_sp_metadata(name_id_formats=(PERSISTENT,)), name_id_format="emailAddress"
    )
    assert app.name_id_format == email and app.name_id_expression == "${user:email}"
    # Besides it, what the SP declares and the opaque formats (they reveal nothing).
    assert saml.allowed_name_id_formats(app) == [email, PERSISTENT, TRANSIENT]
    unspecified = _app(
        actor,
        rich_sp_metadata(entity_id="https://other.example.test/sp"),
        name="other",
        name_id_format="unspecified",
    )
    assert email not in saml.allowed_name_id_formats(unspecified)
    changed = saml.update_app_settings(
        app, actor=actor, name_id_formats=["emailAddress", "transient"]
    )
    assert changed.name_id_formats[1] == TRANSIENT


# ---------------------------------------------------------------- 3-4. metadata


def test_metadata_publishes_algorithms_scope_and_single_logout(client: Client) -> None:
    root = etree.fromstring(client.get("/saml/metadata").content)
    methods = root.xpath("md:Extensions/alg:SigningMethod/@Algorithm", namespaces=NS)
    assert methods[0] == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    assert root.xpath("md:Extensions/alg:DigestMethod/@Algorithm", namespaces=NS)[0].endswith(
        "sha256"
    )
    scope = root.xpath("md:IDPSSODescriptor/md:Extensions/shibmd:Scope/text()", namespaces=NS)
    assert scope == ["localhost"]  # SEKISHO_SCOPE's default: the base URL's host
    logout = root.xpath("md:IDPSSODescriptor/md:SingleLogoutService/@Location", namespaces=NS)
    assert logout == [IDP_SLO, IDP_SLO]


def test_scoped_attributes_use_the_scope(client: Client, make_user, actor, clock) -> None:  # type: ignore[no-untyped-def]
    app = _app(
        actor,
        rich_sp_metadata(),
        attributes=[
            "urn:oid:1.3.6.1.4.1.5923.1.1.1.6=${user:eppn};uri",
            "urn:oasis:names:tc:SAML:attribute:subject-id=${user:subjectId};uri",
        ],
    )
    user = make_user("alice")
    assignments.assign(app, user=user, actor=actor)
    sign_in_registering(client, clock, "alice")
    root = _sso(client, clock)
    values = {
        a.get("Name"): a.findtext("saml:AttributeValue", namespaces=NS)
        for a in root.iter("{urn:oasis:names:tc:SAML:2.0:assertion}Attribute")
    }
    assert values["urn:oid:1.3.6.1.4.1.5923.1.1.1.6"] == "alice@localhost"
    assert values["urn:oasis:names:tc:SAML:attribute:subject-id"] == f"{user.uid}@localhost"


# ---------------------------------------------------------------- 5. encrypted assertions


def test_an_sp_with_an_encryption_key_gets_an_encrypted_assertion(
    client: Client, make_user, actor, clock: FrozenClock
) -> None:
    sp_key = generate_sp_key(clock.now())
    app = _app(actor, rich_sp_metadata(encryption=sp_key))
    assignments.assign(app, user=make_user("alice"), actor=actor)
    sign_in_registering(client, clock, "alice")
    root = _sso(client, clock)
    assert root.find("saml:Assertion", NS) is None
    data = root.find("saml:EncryptedAssertion/xenc:EncryptedData", NS)
    assert data is not None
    manager = xmlsec.KeysManager()
    manager.add_key(
        xmlsec.Key.from_memory(sp_key.private_key_pem.encode(), xmlsec.constants.KeyDataFormatPem)
    )
    assertion = xmlsec.EncryptionContext(manager).decrypt(data)
    assert assertion.findtext("saml:Subject/saml:NameID", namespaces=NS) == "alice"
    # The audit names the NameID and ACS; the assertion itself is never recorded.
    issued = AuditRecord.objects.filter(event_name="Federate").last()
    assert issued is not None and issued.outcome == "Success"
    # Turned off per application.
    saml.update_app_settings(app, actor=actor, encrypt_assertions="never")
    plain = _sso(client, clock, request_id="_r2")
    assert plain.find("saml:Assertion", NS) is not None


def test_encryption_always_needs_a_key(actor) -> None:  # type: ignore[no-untyped-def]
    from sekisho.saml.errors import EncryptionUnavailable

    with pytest.raises(EncryptionUnavailable, match="no encryption key"):
        _app(actor, rich_sp_metadata(), encrypt_assertions="always")


# ---------------------------------------------------------------- 7. ACS validation


@pytest.mark.parametrize(
    ("acs", "message"),
    [
        ("javascript:alert(1)", "expected an https:// URL"),
        ("data:text/html,x", "expected an https:// URL"),
        ("/acs", "expected an https:// URL"),
        ("http://sp.example.test/acs", "plain http is allowed only for localhost"),
    ],
)
def test_bad_acs_urls_are_refused_at_registration(actor, acs: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MetadataError, match=message):
        _app(actor, rich_sp_metadata(acs=acs))


def test_the_csp_form_action_names_only_the_acs_origin(
    client: Client, make_user, actor, clock: FrozenClock
) -> None:
    acs = "https://sp.example.test/acs;script-src%20*"
    app = _app(actor, rich_sp_metadata(acs=acs))
    assignments.assign(app, user=make_user("alice"), actor=actor)
    sign_in_registering(client, clock, "alice")
    launch = client.post("/apps/sp/launch")
    assert launch.status_code == 200
    policy = launch["Content-Security-Policy"]
    assert "form-action https://sp.example.test;" in policy
    assert "script-src 'self';" in policy and "script-src%20" not in policy
    assert posted(launch.content)["action"] == acs


@pytest.mark.parametrize(
    "stored", ["https://sp.example.test/acs\nX-Injected: 1", "javascript:alert(1)", "/relative"]
)
def test_a_stored_bad_acs_is_refused_and_audited_not_a_500(
    client: Client, make_user, actor, clock: FrozenClock, stored: str
) -> None:
    app = _app(actor, rich_sp_metadata())
    assignments.assign(app, user=make_user("alice"), actor=actor)
    # Written before ACS URLs were checked (an older Sekisho), straight into the database.
    Application.objects.filter(pk=app.pk).update(
        acs_endpoints=[{"url": stored, "index": 0, "default": True}]
    )
    sign_in_registering(client, clock, "alice")
    launch = client.post("/apps/sp/launch")
    assert launch.status_code == 403
    assert b"SAMLResponse" not in launch.content
    record = AuditRecord.objects.filter(event_name="Federate").last()
    assert record is not None and record.outcome == "Failure"
    assert record.record["errorCode"] == "app_cannot_launch"
    assert "ACS" in record.record["errorMessage"]
    assert not AuditRecord.objects.filter(event_name="Federate", outcome="Success").exists()


def test_expired_sp_metadata_vouches_for_nothing(
    client: Client, make_user, actor, clock: FrozenClock
) -> None:
    """validUntil is honoured after registration too: a refresh that failed kept the
    metadata, it did not make it valid again (saml-metadata §2.1)."""
    until = clock.now() + timedelta(hours=1)
    metadata = rich_sp_metadata().replace(
        b"entityID=", f'validUntil="{until.strftime("%Y-%m-%dT%H:%M:%SZ")}" entityID='.encode(), 1
    )
    app = _app(actor, metadata)
    assert app.metadata_valid_until == until
    assignments.assign(app, user=make_user("alice"), actor=actor)
    sign_in_registering(client, clock, "alice")
    assert client.post("/apps/sp/launch").status_code == 200
    Application.objects.filter(pk=app.pk).update(metadata_valid_until=clock.now())
    refused = client.post("/apps/sp/launch")
    assert refused.status_code == 403 and b"SAMLResponse" not in refused.content
    record = AuditRecord.objects.filter(event_name="Federate").last()
    assert record is not None and record.outcome == "Failure"
    assert "metadata of sp expired" in record.record["errorMessage"]
    assert "re-create the application" in record.record["errorMessage"]
    Application.objects.filter(pk=app.pk).update(metadata_url="https://sp.example.test/md")
    client.post("/apps/sp/launch")
    record = AuditRecord.objects.filter(event_name="Federate").last()
    assert record is not None and "sekisho app refresh sp" in record.record["errorMessage"]


# ---------------------------------------------------------------- 6. single logout


def _issued(root: etree._Element) -> tuple[slo.SubjectName, str]:
    name_id = root.find(".//saml:Subject/saml:NameID", NS)
    assert name_id is not None and name_id.text
    statement = root.find(".//saml:AuthnStatement", NS)
    assert statement is not None
    subject = slo.SubjectName(
        name_id.text, name_id.get("Format"), sp_name_qualifier=name_id.get("SPNameQualifier")
    )
    return subject, str(statement.get("SessionIndex"))


def _logout_request(
    subject: slo.SubjectName, index: str | None, clock: FrozenClock, request_id: str = "_lo1"
) -> etree._Element:
    return slo.build_logout_request(
        issuer=SP_ENTITY,
        destination=IDP_SLO,
        name_id=subject,
        session_indexes=[index] if index else [],
        now=clock.now(),
        new_id=lambda: request_id,
    )


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _follow_to_sp(client: Client, location: str) -> tuple[str, dict[str, list[str]]]:
    """Follow Sekisho's redirects until the browser leaves for the SP; (URL, query)."""
    while location.startswith("/"):
        response = client.get(location)
        assert response.status_code == 302, response.content[:800]
        location = response["Location"]
    return location, parse_qs(urlsplit(location).query)


def _inflate(value: str) -> bytes:
    return zlib.decompress(base64.b64decode(value), -15)


@pytest.fixture
def sp_key(clock: FrozenClock) -> SigningKey:
    """The SP's signing key."""
    return generate_sp_key(clock.now())


def test_sp_initiated_logout_by_redirect(
    client: Client, make_user, actor, clock: FrozenClock, sp_key: SigningKey
) -> None:
    app = _app(actor, rich_sp_metadata(signing=sp_key, slo_bindings=(REDIRECT,)))
    assignments.assign(app, user=make_user("alice"), actor=actor)
    sign_in_registering(client, clock, "alice")
    subject, index = _issued(_sso(client, clock))
    request = slo.serialize(_logout_request(subject, index, clock), key=None)
    url = redirect_url(
        IDP_SLO, parameter="SAMLRequest", xml=request, relay_state="sp-rs", key=sp_key
    )
    started = client.get(_path(url))
    assert started.status_code == 302 and started["Location"].startswith("/saml/logout/")
    target, query = _follow_to_sp(client, started["Location"])
    assert target.startswith(SP_SLO + "?")
    verify_redirect_signature(
        query_string=urlsplit(target).query,
        trusted_certificates=[saml.signing_key().certificate_pem],
    )
    response = slo.parse_logout_message(_inflate(query["SAMLResponse"][0]))
    assert isinstance(response, slo.LogoutResponse)
    assert response.in_response_to == "_lo1" and response.succeeded
    assert query["RelayState"] == ["sp-rs"]
    # The portal session is over, and the SP session recorded as ended.
    assert client.get("/apps")["Location"].startswith("/signin")
    assert SpSession.objects.get(application=app).ended_at is not None
    record = AuditRecord.objects.filter(event_name="Logout").last()
    assert record is not None
    assert record.record["additionalEventData"]["LogoutInitiatedBy"] == "sp"


def test_sp_initiated_logout_by_post_answers_by_post(
    client: Client, make_user, actor, clock: FrozenClock, sp_key: SigningKey
) -> None:
    app = _app(actor, rich_sp_metadata(signing=sp_key, slo_bindings=(POST,)))
    assignments.assign(app, user=make_user("alice"), actor=actor)
    sign_in_registering(client, clock, "alice")
    subject, index = _issued(_sso(client, clock))
    signed = slo.serialize(_logout_request(subject, index, clock), key=sp_key)
    # Another site's POST carries no SameSite=Lax cookie: the session is found by its index.
    anonymous = Client()
    started = anonymous.post("/saml/slo", {"SAMLRequest": base64.b64encode(signed).decode()})
    assert started.status_code == 302
    page = anonymous.get(started["Location"])
    fields = posted(page.content)
    assert fields["action"] == SP_SLO
    assert "form-action https://sp.example.test;" in page["Content-Security-Policy"]
    response_xml = base64.b64decode(fields["SAMLResponse"])
    verify_element(
        etree.fromstring(response_xml), trusted_certificates=[saml.signing_key().certificate_pem]
    )
    assert client.get("/apps")["Location"].startswith("/signin")


def test_portal_sign_out_by_post_sends_a_signed_logout_request(
    client: Client, make_user, actor, clock: FrozenClock, sp_key: SigningKey
) -> None:
    """IdP-initiated over HTTP-POST: a signed LogoutRequest posted, the SP's POST answer."""
    app = _app(actor, rich_sp_metadata(signing=sp_key, slo_bindings=(POST,)))
    assignments.assign(app, user=make_user("alice"), actor=actor)
    sign_in_registering(client, clock, "alice")
    subject, index = _issued(_sso(client, clock))
    out = client.post("/signout")
    token = out["Location"].rsplit("/", 1)[1]
    page = client.get(out["Location"])
    fields = posted(page.content)
    assert fields["action"] == SP_SLO and fields["RelayState"] == token
    assert "form-action https://sp.example.test;" in page["Content-Security-Policy"]
    request_xml = base64.b64decode(fields["SAMLRequest"])
    verify_element(
        etree.fromstring(request_xml), trusted_certificates=[saml.signing_key().certificate_pem]
    )
    request = slo.parse_logout_message(request_xml)
    assert isinstance(request, slo.LogoutRequest)
    assert request.name_id.value == subject.value and request.session_indexes == (index,)
    answer = slo.build_logout_response(
        issuer=SP_ENTITY,
        destination=IDP_SLO,
        in_response_to=request.id,
        status="urn:oasis:names:tc:SAML:2.0:status:Success",
        now=clock.now(),
        new_id=lambda: "_lr1",
    )
    signed = base64.b64encode(slo.serialize(answer, key=sp_key)).decode()
    back = Client().post("/saml/slo", {"SAMLResponse": signed, "RelayState": token})
    assert back.status_code == 302
    done = client.get(back["Location"])
    assert '<ul id="slo-ended"><li>SP sp</li></ul>' in done.content.decode()


def test_unsigned_logout_from_an_sp_with_a_key_is_refused(
    client: Client, make_user, actor, clock: FrozenClock, sp_key: SigningKey
) -> None:
    app = _app(actor, rich_sp_metadata(signing=sp_key, slo_bindings=(REDIRECT,)))
    assignments.assign(app, user=make_user("alice"), actor=actor)
    sign_in_registering(client, clock, "alice")
    subject, index = _issued(_sso(client, clock))
    request = slo.serialize(_logout_request(subject, index, clock), key=None)
    refused = client.get(
        _path(redirect_url(IDP_SLO, parameter="SAMLRequest", xml=request, key=None))
    )
    assert refused.status_code == 403
    assert b'data-error-code="slo_signature"' in refused.content
    assert client.get("/apps").status_code == 200  # still signed in
    record = AuditRecord.objects.filter(event_name="Logout").last()
    assert record is not None and record.record["errorCode"] == "signature_required"
    forged = redirect_url(
        IDP_SLO, parameter="SAMLRequest", xml=request, key=generate_sp_key(clock.now())
    )
    assert client.get(_path(forged)).status_code == 403


def test_a_logout_request_signed_with_expired_metadata_keys_is_refused(
    client: Client, make_user, actor, clock: FrozenClock, sp_key: SigningKey
) -> None:
    """Keys from metadata past its validUntil vouch for nothing (saml-metadata §2.1): a
    LogoutRequest they sign, or an unsigned one naming a SessionIndex, ends nothing."""
    app = _app(actor, rich_sp_metadata(signing=sp_key, slo_bindings=(REDIRECT,)))
    assignments.assign(app, user=make_user("alice"), actor=actor)
    sign_in_registering(client, clock, "alice")
    subject, index = _issued(_sso(client, clock))
    Application.objects.filter(pk=app.pk).update(metadata_valid_until=clock.now())
    request = slo.serialize(_logout_request(subject, index, clock), key=None)
    for key in (sp_key, None):
        refused = client.get(
            _path(redirect_url(IDP_SLO, parameter="SAMLRequest", xml=request, key=key))
        )
        assert refused.status_code == 403
        assert b'data-error-code="slo_metadata_expired"' in refused.content
        record = AuditRecord.objects.filter(event_name="Logout").last()
        assert record is not None and record.record["errorCode"] == "metadata_expired"
        assert "metadata of sp expired" in record.record["errorMessage"]
    assert client.get("/apps").status_code == 200  # still signed in
    assert SpSession.objects.get(application=app).ended_at is None
    with translation.override("ja"):
        page = client.get(
            _path(redirect_url(IDP_SLO, parameter="SAMLRequest", xml=request, key=sp_key)),
            HTTP_ACCEPT_LANGUAGE="ja",
        )
    assert "サインアウト要求を受け付けられません" in page.content.decode()


def test_portal_sign_out_sends_nothing_to_an_sp_whose_metadata_expired(
    client: Client, make_user, actor, clock: FrozenClock, sp_key: SigningKey
) -> None:
    """The walk does not send the browser to an endpoint from expired metadata; the
    person is told that application may still be signed in."""
    app = _app(actor, rich_sp_metadata(signing=sp_key, slo_bindings=(REDIRECT,)))
    assignments.assign(app, user=make_user("alice"), actor=actor)
    sign_in_registering(client, clock, "alice")
    _sso(client, clock)
    Application.objects.filter(pk=app.pk).update(metadata_valid_until=clock.now())
    out = client.post("/signout")
    assert out.status_code == 302 and out["Location"].startswith("/saml/logout/")
    page = client.get(out["Location"])
    assert page.status_code == 200, page.get("Location")
    text = page.content.decode()
    assert SP_SLO not in text
    assert 'id="slo-ended"' not in text and "SP sp" in text
    assert client.get("/apps")["Location"].startswith("/signin")


def test_an_sp_without_a_key_logs_out_only_with_its_session_index(
    client: Client, make_user, actor, clock: FrozenClock
) -> None:
    app = _app(actor, rich_sp_metadata(slo_bindings=(REDIRECT,)))
    assignments.assign(app, user=make_user("alice"), actor=actor)
    sign_in_registering(client, clock, "alice")
    subject, index = _issued(_sso(client, clock))
    no_index = slo.serialize(_logout_request(subject, None, clock), key=None)
    refused = client.get(
        _path(redirect_url(IDP_SLO, parameter="SAMLRequest", xml=no_index, key=None))
    )
    assert refused.status_code == 403
    wrong = slo.serialize(_logout_request(subject, "_guess", clock, "_lo2"), key=None)
    guessed = client.get(_path(redirect_url(IDP_SLO, parameter="SAMLRequest", xml=wrong, key=None)))
    _follow_to_sp(client, guessed["Location"])
    assert client.get("/apps").status_code == 200  # a wrong index ends nothing
    right = slo.serialize(_logout_request(subject, index, clock, "_lo3"), key=None)
    ended = client.get(_path(redirect_url(IDP_SLO, parameter="SAMLRequest", xml=right, key=None)))
    _follow_to_sp(client, ended["Location"])
    assert client.get("/apps")["Location"].startswith("/signin")


def test_portal_sign_out_walks_every_sp_and_names_the_ones_it_could_not_end(
    client: Client, make_user, actor, clock: FrozenClock, connect_app, sp_key: SigningKey
) -> None:
    app = _app(actor, rich_sp_metadata(signing=sp_key, slo_bindings=(REDIRECT,)))
    user = make_user("alice")
    assignments.assign(app, user=user, actor=actor)
    assignments.assign(connect_app, user=user, actor=actor)  # type: ignore[arg-type]
    sign_in_registering(client, clock, "alice")
    subject, index = _issued(_sso(client, clock))
    assert client.post("/apps/connect/launch").status_code == 200
    out = client.post("/signout")
    assert out.status_code == 302 and out["Location"].startswith("/saml/logout/")
    token = out["Location"].rsplit("/", 1)[1]
    target, query = _follow_to_sp(client, out["Location"])
    assert target.startswith(SP_SLO + "?")
    verify_redirect_signature(
        query_string=urlsplit(target).query,
        trusted_certificates=[saml.signing_key().certificate_pem],
    )
    request = slo.parse_logout_message(_inflate(query["SAMLRequest"][0]))
    assert isinstance(request, slo.LogoutRequest)
    assert request.name_id.value == subject.value and request.session_indexes == (index,)
    assert query["RelayState"] == [token]
    answer = slo.build_logout_response(
        issuer=SP_ENTITY,
        destination=IDP_SLO,
        in_response_to=request.id,
        status="urn:oasis:names:tc:SAML:2.0:status:Success",
        now=clock.now(),
        new_id=lambda: "_lr1",
    )
    back = client.get(
        _path(
            redirect_url(
                IDP_SLO,
                parameter="SAMLResponse",
                xml=slo.serialize(answer, key=None),
                relay_state=token,
                key=sp_key,
            )
        )
    )
    assert back.status_code == 302
    page = client.get(back["Location"])
    assert page.status_code == 200
    text = page.content.decode()
    assert '<ul id="slo-ended"><li>SP sp</li></ul>' in text
    assert "<strong>Amazon Connect</strong>: it does not support single sign-out." in text
    assert client.get("/apps")["Location"].startswith("/signin")
    # The logout is over: its token is no good any more.
    assert client.get(f"/saml/logout/{token}").status_code == 400


CONNECT_LOGOUT = "https://agents.my.connect.aws/connect/logout"


def test_portal_sign_out_requests_amazon_connects_own_logout(
    client: Client, make_user, actor, clock: FrozenClock
) -> None:
    """Connect has no SAML single logout: the signed-out page requests its /connect/logout."""
    app = saml.create_amazon_connect_app(
        name="agents",
        display_name="Amazon Connect",
        region="ap-northeast-1",
        instance_id="aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
        account_id="111122223333",
        role_name="ConnectFederationRole",
        provider_name="Sekisho",
        destination="ccp",
        acs="global",
        session_duration=3600,
        signin_url="http://localhost:8000/saml/inspector",
        console_url=None,
        logout_url=CONNECT_LOGOUT,
        actor=actor,
    )
    assignments.assign(app, user=make_user("alice"), actor=actor)
    sign_in_registering(client, clock, "alice")
    assert client.post("/apps/agents/launch").status_code == 200
    out = client.post("/signout")
    page = client.get(out["Location"])
    assert page.status_code == 200
    text = page.content.decode()
    assert f'<img class="logout-beacon" src="{CONNECT_LOGOUT}"' in text
    assert "img-src 'self' data: https://agents.my.connect.aws;" in page["Content-Security-Policy"]
    assert "form-action 'self'" in page["Content-Security-Policy"]
    assert (
        "<strong>Amazon Connect</strong>: it has no single sign-out; Sekisho asked it to end "
        "your session, but it cannot confirm that it did."
    ) in text
    assert client.get("/apps")["Location"].startswith("/signin")
    with translation.override("ja"):
        assert str(NOT_ENDED_REASONS["logout_url"]).startswith("シングルサインアウトに対応")


def test_a_stored_bad_connect_logout_url_is_never_requested(
    client: Client, make_user, actor, clock: FrozenClock, connect_app
) -> None:
    app = Application.objects.get(name="connect")
    app.preset = {**app.preset, "logout_url": "javascript:alert(1)"}
    app.save()
    assignments.assign(app, user=make_user("alice"), actor=actor)
    sign_in_registering(client, clock, "alice")
    assert client.post("/apps/connect/launch").status_code == 200
    text = client.get(client.post("/signout")["Location"]).content.decode()
    assert "logout-beacon" not in text and "javascript" not in text
    assert "<strong>Amazon Connect</strong>: it does not support single sign-out." in text


def test_portal_sign_out_without_sps_is_the_plain_one(
    client: Client, make_user, clock: FrozenClock
) -> None:
    make_user("alice")
    sign_in_registering(client, clock, "alice")
    out = client.post("/signout")
    assert out["Location"] == "/signin?signed_out=1"


def test_a_logout_response_to_nothing_is_refused(
    client: Client, make_user, actor, clock: FrozenClock, sp_key: SigningKey
) -> None:
    _app(actor, rich_sp_metadata(signing=sp_key, slo_bindings=(REDIRECT,)))
    answer = slo.build_logout_response(
        issuer=SP_ENTITY,
        destination=IDP_SLO,
        in_response_to="_never",
        status="urn:oasis:names:tc:SAML:2.0:status:Success",
        now=clock.now(),
        new_id=lambda: "_lr1",
    )
    xml = slo.serialize(answer, key=None)
    unknown = client.get(
        _path(
            redirect_url(IDP_SLO, parameter="SAMLResponse", xml=xml, relay_state="nope", key=sp_key)
        )
    )
    assert unknown.status_code == 400 and b"slo_expired" in unknown.content


@pytest.mark.parametrize(
    "query",
    ["", "SAMLRequest=%%%", "SAMLRequest=" + base64.b64encode(b"<x/>").decode(), "RelayState=x"],
)
def test_garbage_at_the_logout_endpoint(client: Client, db, query: str) -> None:
    response = client.get("/saml/slo?" + query)
    assert response.status_code == 400
    assert b"slo_malformed" in response.content


def test_logout_from_an_unknown_sp(client: Client, db, clock: FrozenClock) -> None:
    request = slo.serialize(_logout_request(slo.SubjectName("x"), "_s", clock), key=None).replace(
        SP_ENTITY.encode(), b"https://nobody.example"
    )
    response = client.get(
        _path(redirect_url(IDP_SLO, parameter="SAMLRequest", xml=request, key=None))
    )
    assert response.status_code == 404


def test_sp_acs_stays_in_the_metadata(actor) -> None:  # type: ignore[no-untyped-def]
    app = _app(actor, rich_sp_metadata())
    assert app.default_acs() == SP_ACS


def test_the_signed_out_page_speaks_japanese(
    client: Client, make_user, actor, clock: FrozenClock, connect_app
) -> None:
    user = make_user("alice")
    assignments.assign(connect_app, user=user, actor=actor)  # type: ignore[arg-type]
    sign_in_registering(client, clock, "alice")
    assert client.post("/apps/connect/launch").status_code == 200
    out = client.post("/signout")
    page = client.get(out["Location"], headers={"accept-language": "ja"})
    text = page.content.decode()
    assert "サインアウトしました" in text
    assert "シングルサインアウトに対応していません。" in text


def test_a_stored_bad_logout_url_is_skipped_not_a_500(
    client: Client, make_user, actor, clock: FrozenClock, sp_key: SigningKey
) -> None:
    app = _app(actor, rich_sp_metadata(signing=sp_key, slo_bindings=(REDIRECT,)))
    assignments.assign(app, user=make_user("alice"), actor=actor)
    sign_in_registering(client, clock, "alice")
    _sso(client, clock)
    Application.objects.filter(pk=app.pk).update(
        slo_endpoints=[{"binding": REDIRECT, "url": "javascript:alert(1)", "response_url": ""}]
    )
    out = client.post("/signout")
    page = client.get(out["Location"])
    assert page.status_code == 200
    assert b"<strong>SP sp</strong>: signing out of it failed." in page.content
    assert client.head(out["Location"]).status_code == 405
