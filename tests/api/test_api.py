"""The REST API's protocol: problems naming the field, ETag/If-Match, cursors, tokens, limits."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import override_settings

from sekisho.admin import roles, tokens
from sekisho.audit.models import AuditRecord
from sekisho.audit.writer import Actor
from sekisho.directory.models import User
from sekisho.mfa.models import RadiusServer
from sekisho.saml.models import Application
from tests.api.conftest import ApiClient

pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"


def _body(response) -> dict:
    return json.loads(response.content)


def test_the_openapi_document_is_3_1_and_public(db: None) -> None:
    document = ApiClient(None).get("/openapi.json")
    assert document.status_code == 200
    schema = _body(document)
    assert schema["openapi"] == "3.1.0"
    assert schema["components"]["securitySchemes"]
    operation = schema["paths"]["/api/v1/users"]["post"]
    assert operation["x-sekisho-permission"] == "users.create"
    assert PROBLEM in operation["responses"]["422"]["content"]


def test_validation_errors_are_problems_naming_the_field(admin_api: ApiClient) -> None:
    response = admin_api.post("/users", {"username": "", "email": "x@example.com"})
    assert response.status_code == 422 and response["Content-Type"] == PROBLEM
    body = _body(response)
    assert body["status"] == 422 and body["type"].startswith("urn:sekisho:problem:")
    assert [e["field"] for e in body["errors"]] == ["username"]
    assert body["errors"][0]["pointer"] == "#/username"
    # Service rules name their field too.
    bad_email = _body(admin_api.post("/users", {"username": "bob", "email": "nope"}))
    assert bad_email["code"] == "invalid_email" and bad_email["errors"][0]["field"] == "email"
    weak = _body(
        admin_api.post(
            "/users", {"username": "bob", "email": "b@example.com", "password": "password"}
        )
    )
    assert weak["errors"][0]["field"] == "password"
    # NUL and other control characters never reach storage.
    nul = _body(admin_api.post("/users", {"username": "bo\x00b", "email": "b@example.com"}))
    assert nul["status"] == 422 and nul["errors"][0]["field"] == "username"
    broken = admin_api.client.post(
        "/api/v1/users",
        data="{not json",
        content_type="application/json",
        headers={"authorization": f"Bearer {admin_api.token}"},
    )
    assert broken.status_code == 400 and broken["Content-Type"] == PROBLEM
    missing = admin_api.get("/users/nobody")
    assert missing.status_code == 404 and _body(missing)["code"] == "not_found"


def test_updates_need_the_current_etag(admin_api: ApiClient, make_user) -> None:
    make_user("alice")
    first = admin_api.get("/users/alice")
    etag = first["ETag"]
    assert etag.startswith('"')
    no_header = admin_api.patch("/users/alice", {"display_name": "Alice A."})
    assert no_header.status_code == 428 and _body(no_header)["code"] == "precondition_required"
    updated = admin_api.patch(
        "/users/alice", {"display_name": "Alice A."}, headers={"if-match": etag}
    )
    assert updated.status_code == 200 and _body(updated)["display_name"] == "Alice A."
    assert updated["ETag"] != etag
    # The second administrator still holds the old ETag: refused, nothing overwritten.
    stale = admin_api.patch(
        "/users/alice", {"display_name": "Someone else"}, headers={"if-match": etag}
    )
    assert stale.status_code == 412
    assert User.objects.get(username="alice").display_name == "Alice A."
    changed = AuditRecord.objects.filter(event_name="UpdateUser").last().record
    assert changed["userIdentity"]["principalId"] == "api:test-admin"
    assert changed["userIdentity"]["invokedBy"] == "api"


def test_cursor_pagination_walks_every_user_once(admin_api: ApiClient, make_user) -> None:
    for n in range(7):
        make_user(f"user{n}")
    seen, cursor = [], None
    while True:
        page = _body(
            admin_api.get("/users", query={"limit": 3, **({"cursor": cursor} if cursor else {})})
        )
        seen += [u["username"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"user{n}" for n in range(7)]
    bad = admin_api.get("/users", query={"cursor": "!!!"})
    assert bad.status_code == 422 and _body(bad)["errors"][0]["field"] == "cursor"


def test_tokens_are_rate_limited_per_token_and_refusals_audited(api_as, actor: Actor) -> None:
    auditor = api_as("auditor")
    with override_settings(SEKISHO_API_RATE_LIMIT=3):
        assert [auditor.get("/dashboard").status_code for _ in range(3)] == [200] * 3
        limited = auditor.get("/dashboard")
        assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
        assert _body(limited)["code"] == "rate_limited"
        assert api_as("helpdesk").get("/dashboard").status_code == 200  # its own budget
    reasons = [
        r.record["additionalEventData"]["Reason"]
        for r in AuditRecord.objects.filter(event_name="AdminAccess")
    ]
    assert reasons.count("rate_limited") == 1


def test_bad_tokens_are_refused_and_never_logged(api_as, actor: Actor, caplog) -> None:
    caplog.set_level(logging.INFO)
    client = api_as("admin")
    assert client.get("/dashboard").status_code == 200
    tokens.revoke("test-admin", actor=actor)
    revoked = client.get("/dashboard")
    assert revoked.status_code == 401 and 'error="invalid_token"' in revoked["WWW-Authenticate"]
    assert ApiClient("sek_nonsense").get("/dashboard").status_code == 401
    assert client.token not in caplog.text
    refusal = AuditRecord.objects.filter(event_name="AdminAccess").last().record
    assert refusal["userIdentity"]["principalId"] == "api:unknown"
    assert refusal["additionalEventData"]["Reason"] == "invalid_token"
    assert client.token not in json.dumps(refusal)


def test_roles_applications_policies_and_simulation(admin_api: ApiClient, make_user) -> None:
    make_user("agent1")
    created = admin_api.post(
        "/applications",
        {
            "kind": "amazon-connect",
            "name": "connect",
            "region": "ap-northeast-1",
            "instance_id": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
            "account_id": "111122223333",
            "role_name": "ConnectRole",
            "provider_name": "Sekisho",
        },
    )
    assert created.status_code == 201, created.content
    assert admin_api.put("/applications/connect/assignments/users/agent1").status_code == 204
    office = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sekisho:*",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
            },
        ],
    }
    put = admin_api.put("/policies/OfficeOnly", {"document": office})
    assert put.status_code == 201
    assert admin_api.put("/policies/OfficeOnly/attachments/idp").status_code == 200
    assert admin_api.delete("/policies/AllowAll/attachments/idp").status_code == 200
    outside = _body(
        admin_api.post(
            "/policies:simulate",
            {"user": "agent1", "source_ip": "192.0.2.9", "application": "connect"},
        )
    )
    inside = _body(admin_api.get("/users/agent1/access", query={"source_ip": "203.0.113.7"}))
    assert outside["decision"] == "ImplicitDeny" and inside["decision"] == "Allow"
    invalid = admin_api.put(
        "/policies/Broken",
        {"document": {"Version": "2012-10-17", "Statement": [{"Effect": "Maybe"}]}},
    )
    body = _body(invalid)
    assert invalid.status_code == 422 and body["errors"]
    assert all(e["field"].startswith("document") for e in body["errors"])
    replaced = admin_api.put("/policies/OfficeOnly", {"document": office})
    assert replaced.status_code == 428  # replacing needs If-Match
    assert admin_api.put("/users/agent1/roles/helpdesk").status_code == 200
    assert roles.roles_of(User.objects.get(username="agent1")) == {roles.Role.HELPDESK}


def test_radius_servers_never_show_their_secret(admin_api: ApiClient) -> None:
    added = admin_api.post(
        "/radius/servers", {"name": "otp", "host": "127.0.0.1", "secret": "s3cret-shared-value"}
    )
    assert added.status_code == 201 and b"s3cret" not in added.content
    listed = admin_api.get("/radius/servers")
    assert b"s3cret" not in listed.content and _body(listed)[0]["name"] == "otp"
    assert b"s3cret" not in json.dumps([r.record for r in AuditRecord.objects.all()]).encode()
    assert RadiusServer.objects.get(name="otp").sealed_secret != "s3cret-shared-value"


def test_csv_import_and_export_over_the_api(admin_api: ApiClient) -> None:
    text = "username,email\nalpha,alpha@example.com\nbeta,not-an-email\n"
    dry = _body(admin_api.post("/users:import", {"csv": text}))
    assert dry["dry_run"] and not dry["applied"] and dry["bad_rows"] == 1
    assert dry["problems"][0]["field"] == "email" and dry["problems"][0]["line"] == 3
    refused = _body(admin_api.post("/users:import", {"csv": text, "dry_run": False}))
    assert not refused["applied"] and not User.objects.exists()
    done = _body(admin_api.post("/users:import", {"csv": text, "dry_run": False, "skip_bad": True}))
    assert done["applied"] and done["created"] == ["alpha"]
    exported = admin_api.get("/users:export")
    assert exported["Content-Type"].startswith("text/csv")
    assert b"alpha@example.com" in exported.content


def test_audit_events_filter_and_export(admin_api: ApiClient, make_user) -> None:
    make_user("alice")
    events = _body(admin_api.get("/audit/events", query={"event": "CreateUser"}))
    assert [e["eventName"] for e in events["items"]] == ["CreateUser"]
    exported = admin_api.get("/audit:export", query={"event": "CreateUser"})
    data = json.loads(b"".join(exported.streaming_content))
    assert [r["eventName"] for r in data["Records"]] == ["CreateUser"]
    as_csv = admin_api.get("/audit:export", query={"format": "csv", "result": "Success"})
    assert b"eventTime,eventSource,eventName" in b"".join(as_csv.streaming_content)


def test_signing_keys_rotate_in_two_steps(admin_api: ApiClient, own_keys: None) -> None:
    from sekisho.saml.services import metadata_xml

    before = _body(admin_api.get("/signing-keys"))
    assert [k["role"] for k in before] == ["current"]
    switch_first = admin_api.post("/signing-keys:switch")
    assert switch_first.status_code == 422 and _body(switch_first)["code"] == "no_staged_key"
    staged = _body(admin_api.post("/signing-keys:stage"))
    assert [k["role"] for k in staged] == ["current", "next"]
    assert metadata_xml().count(b"<ds:X509Certificate>") == 2
    switched = _body(admin_api.post("/signing-keys:switch"))
    assert [k["role"] for k in switched] == ["current", "previous"]
    assert switched[0]["sha256"] == staged[1]["sha256"]
    assert metadata_xml().count(b"<ds:X509Certificate>") == 1


def test_audit_events_filter_by_user_address_and_time(
    admin_api: ApiClient, make_user, clock
) -> None:
    """Each of the audit filters narrows the trail (issue 12: user, address, time)."""
    from datetime import timedelta

    from django.test import Client

    make_user("alice")
    make_user("bob")
    Client(REMOTE_ADDR="192.0.2.10").post("/signin", {"username": "alice", "password": "wrong"})
    clock.advance(2 * 3600)
    middle = clock.now()
    Client(REMOTE_ADDR="192.0.2.20").post("/signin", {"username": "bob", "password": "wrong"})

    def names(**query: str) -> list[tuple[str, str]]:
        items = _body(
            admin_api.get("/audit/events", query={"event": "CredentialVerification", **query})
        )
        return [(e["sourceIPAddress"], e["eventName"]) for e in items["items"]]

    assert names(user="alice") == [("192.0.2.10", "CredentialVerification")]
    assert names(user="bob") == [("192.0.2.20", "CredentialVerification")]
    assert names(source_ip="192.0.2.20") == [("192.0.2.20", "CredentialVerification")]
    hour_ago = (middle - timedelta(hours=1)).isoformat()
    assert names(since=hour_ago) == [("192.0.2.20", "CredentialVerification")]
    assert names(until=hour_ago) == [("192.0.2.10", "CredentialVerification")]
    backwards = admin_api.get(
        "/audit/events", query={"since": middle.isoformat(), "until": hour_ago}
    )
    assert backwards.status_code == 422 and _body(backwards)["errors"][0]["field"] == "since"


def test_amazon_connect_logout_url(admin_api: ApiClient) -> None:
    """The instance logout Sekisho's sign-out requests; checked as every endpoint is."""
    connect = {
        "kind": "amazon-connect",
        "name": "connect",
        "region": "ap-northeast-1",
        "instance_id": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
        "account_id": "111122223333",
        "role_name": "ConnectRole",
        "provider_name": "Sekisho",
    }
    bad = admin_api.post("/applications", {**connect, "logout_url": "javascript:alert(1)"})
    assert bad.status_code in (400, 422) and b"logout_url" in bad.content
    url = "https://agents.my.connect.aws/connect/logout"
    created = admin_api.post("/applications", {**connect, "logout_url": url})
    assert created.status_code == 201, created.content
    assert Application.objects.get(name="connect").preset["logout_url"] == url


@pytest.mark.parametrize("path", ["/applications/a%00b", "/users/a%00b", "/groups/a%0Ab"])
def test_a_control_character_in_a_path_names_nothing(admin_api: ApiClient, path: str) -> None:
    """On PostgreSQL a NUL in a lookup was a 500: the path is refused before any lookup."""
    answer = admin_api.get(path)
    assert answer.status_code == 404
    assert answer["Content-Type"] == "application/problem+json"
    assert _body(answer)["code"] == "not_found"
