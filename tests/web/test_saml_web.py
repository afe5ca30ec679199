"""SAML through the test client: metadata, IdP- and SP-initiated SSO, the inspector, bad input."""

from __future__ import annotations

import base64
import re
import zlib
from html import unescape

import pytest
from django.test import Client
from lxml import etree

from sekisho.audit.models import AuditRecord
from sekisho.clock import FrozenClock
from sekisho.directory import services as directory
from sekisho.saml import assignments
from sekisho.saml import services as saml
from sekisho.saml.models import PendingAuthnRequest
from tests.conftest import sign_in_registering
from tests.web.saml_helpers import (
    SP_ACS,
    authn_request,
    generate_sp_key,
    redirect_query,
    sp_metadata,
)

pytestmark = pytest.mark.django_db

SAML_NS = {
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
}


def posted(html: bytes) -> dict[str, str]:
    """The hidden fields and action of the HTTP-POST binding form on a page."""
    text = html.decode()
    action = re.search(r'<form method="post" action="([^"]+)" id="saml-post"', text)
    assert action, text[:2000]
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', text))
    fields = {k: unescape(v) for k, v in fields.items()}
    fields["action"] = unescape(action.group(1))
    return fields


def decoded(fields: dict[str, str]) -> etree._Element:
    return etree.fromstring(base64.b64decode(fields["SAMLResponse"]))


def test_metadata_is_served(client: Client) -> None:
    response = client.get("/saml/metadata")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/samlmetadata+xml"
    root = etree.fromstring(response.content)
    assert root.get("entityID") == saml.idp_identity().entity_id
    bindings = {e.get("Binding") for e in root.iter("{*}SingleSignOnService")}
    assert bindings == {
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
    }


def test_idp_initiated_launch_reaches_the_inspector(
    client: Client, make_user, connect_app, clock: FrozenClock, actor
) -> None:
    user = make_user("agent1")
    assignments.assign(connect_app, user=user, actor=actor)
    sign_in_registering(client, clock, "agent1")
    apps = client.get("/apps")
    assert b"Amazon Connect" in apps.content
    launch = client.post("/apps/connect/launch")
    assert launch.status_code == 200
    fields = posted(launch.content)
    assert fields["action"] == "http://localhost:8000/saml/inspector"
    assert fields["RelayState"].startswith(
        "https://ap-northeast-1.console.aws.amazon.com/connect/federate/aaaaaaaa-"
    )
    assert "form-action http://localhost:8000;" in launch["Content-Security-Policy"]
    root = decoded(fields)
    attrs = {
        a.get("Name"): [v.text for v in a.findall("saml:AttributeValue", SAML_NS)]
        for a in root.iter("{*}Attribute")
    }
    assert attrs["https://aws.amazon.com/SAML/Attributes/RoleSessionName"] == ["agent1"]
    assert attrs["https://aws.amazon.com/SAML/Attributes/Role"] == [
        "arn:aws:iam::111122223333:role/ConnectFederationRole,"
        "arn:aws:iam::111122223333:saml-provider/Sekisho"
    ]
    context = root.find(".//saml:AuthnContextClassRef", SAML_NS)
    assert context is not None and "PasswordProtectedTransport" not in (context.text or "")
    inspected = client.post(
        "/saml/inspector",
        {"SAMLResponse": fields["SAMLResponse"], "RelayState": fields["RelayState"]},
    )
    assert inspected.status_code == 200, inspected.content.decode()[:3000]
    assert b'data-valid="true"' in inspected.content
    assert b'<code id="name-id">agent1</code>' in inspected.content
    issued = AuditRecord.objects.filter(event_name="Federate").last()
    assert issued is not None and issued.outcome == "Success"


def test_inspector_flags_a_tampered_response(
    client: Client, make_user, connect_app, clock, actor
) -> None:
    user = make_user("agent1")
    assignments.assign(connect_app, user=user, actor=actor)
    sign_in_registering(client, clock, "agent1")
    fields = posted(client.post("/apps/connect/launch").content)
    xml = base64.b64decode(fields["SAMLResponse"]).replace(b">agent1<", b">admin1<")
    response = client.post("/saml/inspector", {"SAMLResponse": base64.b64encode(xml).decode()})
    assert response.status_code == 422 and b'data-valid="false"' in response.content


def test_inspector_survives_garbage(client: Client) -> None:
    for junk in ("%%%not-base64", base64.b64encode(b"<not xml").decode(), ""):
        response = client.post("/saml/inspector", {"SAMLResponse": junk})
        assert response.status_code in (400, 422)


def test_launch_of_an_unassigned_app_is_refused_and_audited(
    client: Client, make_user, connect_app, clock
) -> None:
    make_user("agent1")
    sign_in_registering(client, clock, "agent1")
    response = client.post("/apps/connect/launch")
    assert response.status_code == 403
    assert b"not assigned to you" in response.content
    assert b"SAMLResponse" not in response.content
    refused = AuditRecord.objects.filter(event_name="Federate").last()
    assert refused is not None and refused.outcome == "Failure"


def test_group_assignment_grants_the_app(
    client: Client, make_user, connect_app, clock, actor
) -> None:
    user = make_user("agent1")
    group = directory.create_group("agents", actor=actor)
    directory.add_member(group, user, actor=actor)
    assignments.assign(connect_app, group=group, actor=actor)
    sign_in_registering(client, clock, "agent1")
    assert client.post("/apps/connect/launch").status_code == 200


def test_invalid_role_session_name_cannot_be_assigned(make_user, connect_app, actor) -> None:
    from sekisho.saml.errors import AssignmentError

    user = make_user("x")  # one character: RoleSessionName needs 2..64
    with pytest.raises(AssignmentError, match="RoleSessionName"):
        assignments.assign(connect_app, user=user, actor=actor)


def _map_role_session_name(app, expression: str | None, actor) -> None:
    """Point the app's RoleSessionName at ``expression``, or drop it (None)."""
    from sekisho.saml.core import attributes as mapping

    kept = [
        mapping.AttributeMapping(m["name"], m["value"], m.get("name_format", "basic"))
        for m in app.attribute_mappings
        if m["name"] != "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
    ]
    if expression is not None:
        kept.append(
            mapping.AttributeMapping(
                "https://aws.amazon.com/SAML/Attributes/RoleSessionName", expression, "uri"
            )
        )
    saml.update_app(app, attribute_mappings=kept, actor=actor)


def test_role_session_name_is_judged_by_its_mapping_not_the_username(
    client: Client, make_user, connect_app, clock: FrozenClock, actor
) -> None:
    """A username AWS would refuse is fine when the RoleSessionName is mapped elsewhere."""
    _map_role_session_name(connect_app, "${user:email}", actor)
    user = make_user("x", email="agent.x@example.com")  # "x": too short as a RoleSessionName
    assignments.assign(connect_app, user=user, actor=actor)
    assert assignments.assignable_problem(connect_app, user) is None
    sign_in_registering(client, clock, "x")
    fields = posted(client.post("/apps/connect/launch").content)
    attrs = {
        a.get("Name"): [v.text for v in a.iter("{*}AttributeValue")]
        for a in decoded(fields).iter("{*}Attribute")
    }
    assert attrs["https://aws.amazon.com/SAML/Attributes/RoleSessionName"] == [
        "agent.x@example.com"
    ]


def test_a_mapped_role_session_name_aws_refuses_is_refused_with_its_source(
    make_user, connect_app, actor
) -> None:
    from sekisho.saml.errors import AssignmentError

    _map_role_session_name(connect_app, "${user:displayName}", actor)
    user = make_user("agent2", display_name="Agent Two")  # a valid username
    with pytest.raises(AssignmentError) as caught:
        assignments.assign(connect_app, user=user, actor=actor)
    message = str(caught.value)
    assert "RoleSessionName 'Agent Two' contains ' '" in message
    assert "mapped from user 'agent2'" in message


def test_no_role_session_name_mapping_is_refused(make_user, connect_app, actor) -> None:
    from sekisho.saml.errors import AssignmentError

    _map_role_session_name(connect_app, None, actor)
    user = make_user("agent3")
    with pytest.raises(AssignmentError, match="asserts no RoleSessionName"):
        assignments.assign(connect_app, user=user, actor=actor)


def test_a_signed_in_redirect_request_is_answered_at_once_and_only_once(
    client: Client, make_user, sp_app, clock: FrozenClock, actor
) -> None:
    """HTTP-Redirect with a session that needs nothing more: one response, as SimpleSAMLphp
    and Shibboleth answer; the same AuthnRequest again is a replay and is refused."""
    user = make_user("alice")
    assignments.assign(sp_app, user=user, actor=actor)
    sign_in_registering(client, clock, "alice")
    query = redirect_query(authn_request(now=clock.now(), request_id="_once"), relay_state="r")
    answer = client.get("/saml/sso?" + query)
    assert answer.status_code == 200
    fields = posted(answer.content)
    assert fields["action"] == SP_ACS and fields["RelayState"] == "r"
    assert decoded(fields).get("InResponseTo") == "_once"
    replay = client.get("/saml/sso?" + query)
    assert replay.status_code == 400 and b"SAMLResponse" not in replay.content
    # ForceAuthn asks for a fresh sign-in: that goes through the continuation.
    forced = authn_request(now=clock.now(), request_id="_forced", force_authn=True)
    again = client.get("/saml/sso?" + redirect_query(forced))
    assert again.status_code == 302 and again["Location"].startswith("/saml/continue/")


def test_sp_initiated_redirect_binding_round_trip(
    client: Client, make_user, sp_app, clock: FrozenClock, actor
) -> None:
    user = make_user("alice")
    assignments.assign(sp_app, user=user, actor=actor)
    query = redirect_query(authn_request(now=clock.now()), relay_state="state-123")
    response = client.get("/saml/sso?" + query)
    assert response.status_code == 302 and response["Location"].startswith("/saml/continue/")
    continue_url = response["Location"]
    to_signin = client.get(continue_url)
    assert to_signin["Location"].startswith("/signin?next=%2Fsaml%2Fcontinue%2F")
    sign_in_registering(client, clock, "alice")
    answer = client.get(continue_url)
    fields = posted(answer.content)
    assert fields["action"] == SP_ACS and fields["RelayState"] == "state-123"
    root = decoded(fields)
    assert root.get("InResponseTo") == "_req1"
    assert root.find("{http://www.w3.org/2000/09/xmldsig#}Signature") is not None
    name_id = root.find(".//saml:NameID", SAML_NS)
    assert name_id is not None and name_id.text == "alice@example.com"
    # One answer per request: the continuation cannot be replayed.
    assert client.get(continue_url).status_code == 400


def test_sp_initiated_post_binding(client: Client, make_user, sp_app, clock, actor) -> None:
    user = make_user("alice")
    assignments.assign(sp_app, user=user, actor=actor)
    sign_in_registering(client, clock, "alice")
    message = base64.b64encode(authn_request(now=clock.now(), request_id="_post1")).decode()
    response = client.post("/saml/sso", {"SAMLRequest": message})
    assert response.status_code == 302
    fields = posted(client.get(response["Location"]).content)
    assert decoded(fields).get("InResponseTo") == "_post1"


def test_replayed_authn_request_is_refused(client: Client, sp_app, clock) -> None:
    query = redirect_query(authn_request(now=clock.now(), request_id="_dup"))
    assert client.get("/saml/sso?" + query).status_code == 302
    again = client.get("/saml/sso?" + query)
    assert again.status_code == 400 and b"already used" in again.content


def test_unknown_sp_gets_an_error_page(client: Client, db, clock) -> None:
    query = redirect_query(authn_request(now=clock.now(), issuer="https://nobody.example"))
    response = client.get("/saml/sso?" + query)
    assert response.status_code == 404
    assert b"Unknown application" in response.content
    assert AuditRecord.objects.filter(event_name="Federate").exists()


def test_acs_not_in_metadata_is_never_used(client: Client, sp_app, clock) -> None:
    query = redirect_query(authn_request(now=clock.now(), acs="https://evil.example/acs"))
    response = client.get("/saml/sso?" + query)
    assert response.status_code == 400
    assert b"Unregistered return address" in response.content
    assert b"evil.example" not in response.content.split(b"<main>")[0]
    assert not PendingAuthnRequest.objects.exists()


@pytest.mark.parametrize(
    "value",
    [
        "%%%%",  # not base64
        base64.b64encode(b"definitely not deflate").decode(),
        base64.b64encode(zlib.compress(b"<AuthnRequest")[2:-4]).decode(),  # truncated XML
    ],
)
def test_malformed_redirect_messages_get_an_error_page(client: Client, db, value: str) -> None:
    from urllib.parse import quote_plus

    response = client.get("/saml/sso?SAMLRequest=" + quote_plus(value))
    assert response.status_code == 400
    assert b"Invalid sign-in request" in response.content


# Long lines: these are attack payloads quoted as they are sent.
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_x" Version="2.0"
 IssueInstant="2026-01-01T00:00:00Z"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">&x;</saml:Issuer></samlp:AuthnRequest>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&lol3;</samlp:AuthnRequest>"""


@pytest.mark.parametrize("payload", [XXE, LAUGHS])
def test_xxe_and_entity_expansion_are_refused(client: Client, db, payload: bytes) -> None:
    response = client.post("/saml/sso", {"SAMLRequest": base64.b64encode(payload).decode()})
    assert response.status_code == 400
    assert b"root:" not in response.content


def test_oversized_request_is_refused(client: Client, db) -> None:
    response = client.post("/saml/sso", {"SAMLRequest": "A" * (600 * 1024)})
    assert response.status_code == 413
    assert b"Request too large" in response.content


def test_missing_saml_request(client: Client, db) -> None:
    assert client.get("/saml/sso").status_code == 400


def test_signed_requests_required(client: Client, db, clock, actor) -> None:
    key = generate_sp_key(clock.now())
    app = saml.create_saml_app(
        name="strict",
        display_name=None,
        metadata=sp_metadata(cert=key, sign_requests=True),
        entity_id=None,
        name_id_format="persistent",
        name_id="${user:username}",
        attributes=[],
        relay_state="",
        sign_response=False,
        require_signed_requests=True,
        actor=actor,
    )
    assert app.want_authn_requests_signed
    unsigned = client.get("/saml/sso?" + redirect_query(authn_request(now=clock.now())))
    assert unsigned.status_code == 403
    destination = saml.idp_identity().sso_redirect_url
    signed = redirect_query(
        authn_request(now=clock.now(), request_id="_s1", destination=destination), key=key
    )
    assert client.get("/saml/sso?" + signed).status_code == 302
    other = generate_sp_key(clock.now())
    forged = redirect_query(
        authn_request(now=clock.now(), request_id="_s2", destination=destination), key=other
    )
    assert client.get("/saml/sso?" + forged).status_code == 403


def test_passive_request_without_session_gets_nopassive_status(
    client: Client, sp_app, clock
) -> None:
    query = redirect_query(authn_request(now=clock.now(), is_passive=True))
    response = client.get(client.get("/saml/sso?" + query)["Location"])
    fields = posted(response.content)
    status = decoded(fields).find(".//samlp:StatusCode/samlp:StatusCode", SAML_NS)
    assert status is not None and status.get("Value").endswith(":NoPassive")


def test_unsupported_name_id_policy_gets_a_status_response(client: Client, sp_app, clock) -> None:
    # A format Sekisho never issues (opaque persistent/transient are always allowed).
    query = redirect_query(
        authn_request(
            now=clock.now(),
            name_id_format="urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName",
        )
    )
    response = client.get("/saml/sso?" + query)
    fields = posted(response.content)
    assert fields["action"] == SP_ACS
    root = decoded(fields)
    codes = [c.get("Value") for c in root.iter("{*}StatusCode")]
    assert codes[-1].endswith(":InvalidNameIDPolicy")


def test_user_data_never_breaks_the_xml(client: Client, db, sp_app, clock, actor) -> None:
    nasty = "Ann <b>&amp; \"Q\" 'x' <!----> ]]>"
    user = directory.create_user(
        username="ann",
        email="ann@example.com",
        display_name=nasty,
        password="correct horse battery staple",
        password_only_factor=False,
        actor=actor,
    )
    group = directory.create_group("r.d@tokyo", actor=actor)
    directory.add_member(group, user, actor=actor)
    app = saml.create_saml_app(
        name="sp2",
        display_name=None,
        metadata=sp_metadata().replace(b"sp.example.test", b"sp2.example.test"),
        entity_id=None,
        name_id_format="unspecified",
        name_id="${user:name}",
        attributes=["display=${user:name}", "groups=${user:groups}"],
        relay_state="",
        sign_response=False,
        require_signed_requests=False,
        actor=actor,
    )
    xml = saml.preview(app=app, user=user, mfa_used=True)
    root = etree.fromstring(xml)
    name_id = root.find(".//saml:NameID", SAML_NS)
    assert name_id is not None and name_id.text == nasty
    values = [v.text for v in root.iter("{*}AttributeValue")]
    assert nasty in values and "r.d@tokyo" in values


def test_forwarded_for_only_from_trusted_proxies(
    client: Client, make_user, clock, monkeypatch
) -> None:
    import dataclasses
    import ipaddress

    from sekisho.config import get_config
    from sekisho.web import middleware

    make_user()
    client.post(
        "/signin",
        {"username": "alice", "password": "wrong wrong"},
        HTTP_X_FORWARDED_FOR="198.51.100.7",
        REMOTE_ADDR="192.0.2.10",
    )
    spoofed = AuditRecord.objects.filter(event_name="CredentialVerification").last()
    assert spoofed is not None and spoofed.source_ip == "192.0.2.10"

    trusted = dataclasses.replace(
        get_config(), trusted_proxies=(ipaddress.ip_network("192.0.2.0/24"),)
    )
    monkeypatch.setattr(middleware, "get_config", lambda: trusted)
    proxied = Client()
    proxied.post(
        "/signin",
        {"username": "alice", "password": "wrong wrong"},
        HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.7, 192.0.2.11",
        REMOTE_ADDR="192.0.2.10",
    )
    via_proxy = AuditRecord.objects.filter(event_name="CredentialVerification").last()
    assert via_proxy is not None and via_proxy.source_ip == "198.51.100.7"


def test_request_naming_a_subject_gets_request_unsupported(client: Client, sp_app, clock) -> None:
    query = redirect_query(authn_request(now=clock.now(), subject="someone-else"))
    fields = posted(client.get("/saml/sso?" + query).content)
    codes = [c.get("Value") for c in decoded(fields).iter("{*}StatusCode")]
    assert codes[-1].endswith(":RequestUnsupported")
