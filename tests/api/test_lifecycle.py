"""The REST API's resources end to end: users, groups, memberships, devices, sessions and
MFA settings, as a helpdesk and an admin use them (issue 12)."""

from __future__ import annotations

import json

import pytest

from sekisho.clock import FrozenClock
from tests.api.conftest import ApiClient

pytestmark = pytest.mark.django_db


def _body(response) -> dict:
    return json.loads(response.content)


def test_api_users_groups_memberships_devices_sessions_and_mfa_settings(
    admin_api: ApiClient, api_as, clock: FrozenClock
) -> None:
    """The lifecycle a helpdesk and an admin drive over the API, one resource after another."""
    from django.test import Client

    from sekisho.directory.models import User
    from tests.conftest import sign_in_registering

    assert admin_api.post("/groups", {"name": "agents"}).status_code == 201
    made = admin_api.post(
        "/users",
        {"username": "agent1", "email": "agent1@example.com", "groups": ["agents"]},
    )
    assert made.status_code == 201, made.content
    assert _body(made)["groups"] == ["agents"]
    assert admin_api.put("/groups/agents/members/agent1").status_code == 204  # idempotent
    group = _body(admin_api.get("/groups/agents"))
    assert group["members"] == ["agent1"]
    # A password the helpdesk sets is temporary: replaced at the first sign-in.
    helpdesk = api_as("helpdesk")
    set_password = helpdesk.post(
        "/users/agent1/password", {"password": "correct horse battery staple"}
    )
    assert set_password.status_code == 200, set_password.content
    assert User.objects.get(username="agent1").must_change_password
    User.objects.filter(username="agent1").update(must_change_password=False)
    browser = Client()
    sign_in_registering(browser, clock, "agent1")
    devices = _body(helpdesk.get("/users/agent1/devices"))
    assert [d["type"] for d in devices] == ["totp"]
    (session,) = _body(helpdesk.get("/users/agent1/sessions"))
    assert session["mfa"]
    assert _body(helpdesk.get("/sessions"))["items"][0]["session_id"] == session["session_id"]
    assert helpdesk.delete(f"/sessions/{session['session_id']}").status_code == 204
    assert browser.get("/apps").status_code == 302  # signed out
    gone = helpdesk.delete(f"/sessions/{session['session_id']}")
    assert gone.status_code == 404 and gone["Content-Type"] == "application/problem+json"
    removed = helpdesk.delete(f"/users/agent1/devices/totp/{devices[0]['id']}")
    assert removed.status_code in (200, 204), removed.content
    assert _body(helpdesk.get("/users/agent1/devices")) == []
    assert helpdesk.post("/users/agent1/disable").status_code == 200
    assert _body(helpdesk.get("/users/agent1"))["status"] == "disabled"
    assert helpdesk.post("/users/agent1/enable").status_code == 200
    assert _body(helpdesk.get("/users/agent1"))["status"] == "active"
    assert helpdesk.post("/users/agent1/unlock").status_code == 200
    assert helpdesk.post("/users/agent1/reset-mfa").status_code == 200
    # The helpdesk changes no group and no MFA setting.
    assert helpdesk.delete("/groups/agents/members/agent1").status_code == 403
    assert admin_api.delete("/groups/agents/members/agent1").status_code == 204
    assert _body(admin_api.get("/groups/agents"))["members"] == []
    # MFA settings: If-Match, then the change; a bad value names its field.
    current = admin_api.get("/mfa/settings")
    changed = admin_api.patch(
        "/mfa/settings",
        {"mode": "context-aware", "trust_days": 14},
        headers={"if-match": current["ETag"]},
    )
    assert changed.status_code == 200, changed.content
    assert _body(changed)["mode"] == "context-aware" and _body(changed)["trust_days"] == 14
    stale = admin_api.patch(
        "/mfa/settings", {"mode": "always"}, headers={"if-match": current["ETag"]}
    )
    assert stale.status_code == 412
    bad = admin_api.patch("/mfa/settings", {"trust_days": 0}, headers={"if-match": changed["ETag"]})
    assert bad.status_code == 422 and "trust_days" in _body(bad)["errors"][0]["field"]


def test_api_sets_the_radius_username_as_the_cli_does(admin_api: ApiClient, make_user) -> None:
    make_user("agent1")
    etag = admin_api.get("/users/agent1")["ETag"]
    changed = admin_api.patch(
        "/users/agent1", {"radius_username": "A0001"}, headers={"if-match": etag}
    )
    assert changed.status_code == 200, changed.content
    assert _body(changed)["radius_username"] == "A0001"
    bad = admin_api.patch(
        "/users/agent1",
        {"radius_username": "a\\b" * 100, "display_name": "Not saved"},
        headers={"if-match": changed["ETag"]},
    )
    assert bad.status_code == 422 and _body(bad)["errors"][0]["field"] == "radius_username"
    assert _body(admin_api.get("/users/agent1"))["display_name"] != "Not saved"
    back = admin_api.patch(
        "/users/agent1", {"radius_username": ""}, headers={"if-match": changed["ETag"]}
    )
    assert _body(back)["radius_username"] == "agent1"


def test_api_previews_the_assertion_a_launch_would_send(
    admin_api: ApiClient, make_user, connect_app, actor
) -> None:
    """Decoded and indented, so the signature no longer verifies (it cannot be replayed)."""
    from sekisho.saml import assignments
    from sekisho.saml.core.xml import parse_xml
    from sekisho.saml.services import idp_identity

    user = make_user("agent1")
    assignments.assign(connect_app, user=user, actor=actor)
    shown = admin_api.get("/applications/connect/preview", query={"user": "agent1"})
    assert shown.status_code == 200, shown.content
    xml = _body(shown)["xml"]
    assert "\n  " in xml and "RoleSessionName" in xml and ">agent1<" in xml
    assert "urn:amazon:webservices" in xml and idp_identity().entity_id in xml
    parse_xml(xml.encode())  # well-formed
    missing = admin_api.get("/applications/connect/preview", query={"user": "nobody"})
    assert missing.status_code == 404
