"""The authorization matrix: every role against every API operation and console action.

The tables below are the specification (who may do what); the tests check that the
served behaviour matches them exactly, that every operation and page is in them, and
that each decision is audited.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from sekisho.admin import roles, tokens
from sekisho.admin import users as admin_users
from sekisho.admin.roles import ROLE_PERMISSIONS, Permission, Role
from sekisho.api.routes import api
from sekisho.audit.models import AuditRecord
from sekisho.audit.writer import Actor
from sekisho.directory.models import User

pytestmark = pytest.mark.django_db

A, H, U = "admin", "helpdesk", "auditor"
READ = {A, H, U}
ALL_READ = {A, U}
ONLY_ADMIN = {A}

# operationId -> (permission, roles that may call it)
API_MATRIX: dict[str, tuple[str, set[str]]] = {
    "list_users": ("users.read", READ),
    "create_user": ("users.create", ONLY_ADMIN),
    "get_user": ("users.read", READ),
    "update_user": ("users.update", ONLY_ADMIN),
    "delete_user": ("users.delete", ONLY_ADMIN),
    "disable_user": ("users.disable", {A, H}),
    "enable_user": ("users.disable", {A, H}),
    "unlock_user": ("users.unlock", {A, H}),
    "reset_user_mfa": ("users.reset_mfa", {A, H}),
    "set_user_password": ("users.set_password", {A, H}),
    "list_user_devices": ("users.read", READ),
    "delete_user_device": ("devices.remove", {A, H}),
    "list_user_sessions": ("sessions.read", READ),
    "revoke_user_sessions": ("sessions.revoke", {A, H}),
    "grant_role": ("roles.grant", ONLY_ADMIN),
    "revoke_role": ("roles.grant", ONLY_ADMIN),
    "check_user_access": ("policies.simulate", READ),
    "list_sessions": ("sessions.read", READ),
    "revoke_session": ("sessions.revoke", {A, H}),
    "import_users": ("users.import", ONLY_ADMIN),
    "export_users": ("users.export", ALL_READ),
    "list_groups": ("groups.read", READ),
    "create_group": ("groups.write", ONLY_ADMIN),
    "get_group": ("groups.read", READ),
    "update_group": ("groups.write", ONLY_ADMIN),
    "delete_group": ("groups.write", ONLY_ADMIN),
    "add_group_member": ("groups.write", ONLY_ADMIN),
    "remove_group_member": ("groups.write", ONLY_ADMIN),
    "list_applications": ("apps.read", ALL_READ),
    "create_application": ("apps.write", ONLY_ADMIN),
    "get_application": ("apps.read", ALL_READ),
    "update_application": ("apps.write", ONLY_ADMIN),
    "delete_application": ("apps.delete", ONLY_ADMIN),
    "refresh_application_metadata": ("apps.write", ONLY_ADMIN),
    "list_assignments": ("apps.read", ALL_READ),
    "assign_user": ("assignments.write", ONLY_ADMIN),
    "unassign_user": ("assignments.write", ONLY_ADMIN),
    "assign_group": ("assignments.write", ONLY_ADMIN),
    "unassign_group": ("assignments.write", ONLY_ADMIN),
    "preview_assertion": ("apps.preview", ONLY_ADMIN),
    "list_policies": ("policies.read", ALL_READ),
    "validate_policy": ("policies.read", ALL_READ),
    "simulate_policy": ("policies.simulate", READ),
    "get_policy": ("policies.read", ALL_READ),
    "put_policy": ("policies.write", ONLY_ADMIN),
    "delete_policy": ("policies.write", ONLY_ADMIN),
    "attach_policy_to_idp": ("policies.write", ONLY_ADMIN),
    "detach_policy_from_idp": ("policies.write", ONLY_ADMIN),
    "attach_policy": ("policies.write", ONLY_ADMIN),
    "detach_policy": ("policies.write", ONLY_ADMIN),
    "get_mfa_settings": ("mfa.read", ALL_READ),
    "update_mfa_settings": ("mfa.write", ONLY_ADMIN),
    "get_settings": ("settings.read", ALL_READ),
    "update_settings": ("settings.write", ONLY_ADMIN),
    "list_radius_servers": ("radius.read", ALL_READ),
    "add_radius_server": ("radius.write", ONLY_ADMIN),
    "test_radius": ("radius.test", ONLY_ADMIN),
    "get_radius_server": ("radius.read", ALL_READ),
    "remove_radius_server": ("radius.write", ONLY_ADMIN),
    "list_signing_keys": ("keys.read", ALL_READ),
    "stage_signing_key": ("keys.rotate", ONLY_ADMIN),
    "switch_signing_key": ("keys.rotate", ONLY_ADMIN),
    "list_audit_events": ("audit.read", ALL_READ),
    "export_audit_events": ("audit.export", ALL_READ),
    "get_dashboard": ("dashboard.read", READ),
}


def _operations() -> list[tuple[str, str, str, str]]:
    """(method, path, operationId, permission) of every operation the API serves."""
    schema = api.get_openapi_schema()
    found = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            found.append(
                (method.upper(), path, operation["operationId"], operation["x-sekisho-permission"])
            )
    return found


def test_the_matrix_covers_every_operation_and_agrees_with_the_roles() -> None:
    served = {op: permission for _m, _p, op, permission in _operations()}
    assert set(served) == set(API_MATRIX), "add new operations to API_MATRIX"
    for op, (permission, allowed) in API_MATRIX.items():
        assert served[op] == permission, op
        by_roles = {r.value for r in Role if Permission(permission) in ROLE_PERMISSIONS[r]}
        assert by_roles == allowed, op


def _fill(path: str) -> str:
    """Path parameters that name nothing: allowed callers get 404 or 422, never a change."""
    values = {
        "{username}": "nobody",
        "{name}": "nothing",
        "{group}": "nothing",
        "{role}": "auditor",
        "{method}": "totp",
        "{device_id}": "999",
        "{session_id}": "none",
        "{kind}": "user",
        "{target}": "nobody",
    }
    for key, value in values.items():
        path = path.replace(key, value)
    return path


def test_every_role_against_every_api_operation(actor: Actor, own_keys: None) -> None:
    issued = {
        role.value: tokens.create(
            f"matrix-{role.value}", role, expires_days=None, actor=actor
        ).value
        for role in Role
    }
    client = Client()
    checked = 0
    for method, path, op, _permission in _operations():
        url = _fill(path)
        for role, token in issued.items():
            before = AuditRecord.objects.filter(event_name="AdminAccess").count()
            response = client.generic(
                method,
                url,
                data=json.dumps({}) if method in ("POST", "PUT", "PATCH") else "",
                content_type="application/json",
                headers={"authorization": f"Bearer {token}", "if-match": '"stale"'},
            )
            allowed = role in API_MATRIX[op][1]
            if allowed:
                assert response.status_code not in (401, 403), (op, role, response.content[:300])
                assert response.status_code < 500, (op, role, response.content[:300])
            else:
                assert response.status_code == 403, (op, role, response.status_code)
                body = json.loads(response.content)
                assert response["Content-Type"] == "application/problem+json"
                assert body["code"] == "access_refused" and body["status"] == 403
            # Every use of a token is one AdminAccess record, allowed or not.
            after = AuditRecord.objects.filter(event_name="AdminAccess").count()
            assert after == before + 1, (op, role)
            checked += 1
        anonymous = client.generic(method, url)
        assert anonymous.status_code == 401, (op, anonymous.status_code)
        assert anonymous["WWW-Authenticate"].startswith("Bearer")
    assert checked == 3 * len(API_MATRIX)


# ------------------------------------------------------------------ the console

# (method, path, form, permission): every page and every action of the console.
CONSOLE_ACTIONS: list[tuple[str, str, dict[str, str], str]] = [
    ("GET", "/admin/", {}, "dashboard.read"),
    ("GET", "/admin/users", {}, "users.read"),
    ("GET", "/admin/users/target", {}, "users.read"),
    ("GET", "/admin/new-user", {}, "users.create"),
    ("POST", "/admin/new-user", {"username": "", "email": ""}, "users.create"),
    ("GET", "/admin/import-users", {}, "users.import"),
    ("GET", "/admin/export-users", {}, "users.export"),
    (
        "POST",
        "/admin/users/target",
        {"action": "update", "email": "t@example.com", "display_name": "T"},
        "users.update",
    ),
    ("POST", "/admin/users/target", {"action": "disable"}, "users.disable"),
    ("POST", "/admin/users/target", {"action": "enable"}, "users.disable"),
    ("POST", "/admin/users/target", {"action": "unlock"}, "users.unlock"),
    ("POST", "/admin/users/target", {"action": "reset_mfa"}, "users.reset_mfa"),
    ("POST", "/admin/users/target", {"action": "set_password"}, "users.set_password"),
    (
        "POST",
        "/admin/users/target",
        {"action": "remove_device", "method": "totp", "device": "0"},
        "devices.remove",
    ),
    ("POST", "/admin/users/target", {"action": "revoke_sessions"}, "sessions.revoke"),
    (
        "POST",
        "/admin/users/target",
        {"action": "revoke_session", "session": "none"},
        "sessions.revoke",
    ),
    (
        "POST",
        "/admin/users/target",
        {"action": "check_access", "source_ip": "192.0.2.1"},
        "policies.simulate",
    ),
    ("POST", "/admin/users/target", {"action": "add_group", "group": "nothing"}, "groups.write"),
    ("POST", "/admin/users/target", {"action": "grant_role", "role": "auditor"}, "roles.grant"),
    ("POST", "/admin/users/target", {"action": "delete"}, "users.delete"),
    ("GET", "/admin/groups", {}, "groups.read"),
    ("POST", "/admin/groups", {"name": ""}, "groups.write"),
    ("GET", "/admin/groups/team", {}, "groups.read"),
    ("POST", "/admin/groups/team", {"action": "update", "description": "the team"}, "groups.write"),
    ("GET", "/admin/apps", {}, "apps.read"),
    ("GET", "/admin/apps/connect", {}, "apps.read"),
    ("GET", "/admin/new-app", {}, "apps.write"),
    (
        "POST",
        "/admin/apps/connect",
        {"action": "settings", "display_name": "Amazon Connect"},
        "apps.write",
    ),
    (
        "POST",
        "/admin/apps/connect",
        {"action": "mappings", "name_id": "${user:username}"},
        "apps.write",
    ),
    (
        "POST",
        "/admin/apps/connect",
        {"action": "saml_settings", "encrypt_assertions": "never", "encryption_algorithm": "auto"},
        "apps.write",
    ),
    ("POST", "/admin/apps/connect", {"action": "refresh"}, "apps.write"),
    ("POST", "/admin/apps/connect", {"action": "assign", "target": "nobody"}, "assignments.write"),
    ("POST", "/admin/apps/connect", {"action": "preview", "username": "target"}, "apps.preview"),
    ("POST", "/admin/apps/connect", {"action": "delete"}, "apps.delete"),
    ("GET", "/admin/policies", {}, "policies.read"),
    ("GET", "/admin/policies/AllowAll", {}, "policies.read"),
    ("GET", "/admin/new-policy", {}, "policies.read"),
    (
        "POST",
        "/admin/policies/AllowAll",
        {"action": "detach", "target_kind": "user", "target": "nobody"},
        "policies.write",
    ),
    ("GET", "/admin/simulate", {}, "policies.simulate"),
    ("GET", "/admin/mfa", {}, "mfa.read"),
    ("POST", "/admin/mfa", {"mode": "always", "trust_days": "x"}, "mfa.write"),
    ("GET", "/admin/radius", {}, "radius.read"),
    ("POST", "/admin/radius", {"action": "add", "name": ""}, "radius.write"),
    ("POST", "/admin/radius", {"action": "test", "username": "x", "password": "y"}, "radius.test"),
    ("GET", "/admin/keys", {}, "keys.read"),
    ("POST", "/admin/keys", {"action": "nothing-to-do-twice"}, "keys.rotate"),
    ("GET", "/admin/audit", {}, "audit.read"),
    ("GET", "/admin/export-audit", {}, "audit.export"),
    ("GET", "/admin/sessions", {}, "sessions.read"),
    ("POST", "/admin/sessions", {"session": "none"}, "sessions.revoke"),
    ("GET", "/admin/settings", {}, "settings.read"),
    ("POST", "/admin/settings", {"time_zone": "UTC"}, "settings.write"),
    ("GET", "/admin/tokens", {}, "tokens.read"),
    ("POST", "/admin/tokens", {"action": "revoke", "name": "none"}, "tokens.write"),
]


NAMED = {
    "users/target": "users/<str:username>",
    "groups/team": "groups/<str:name>",
    "apps/connect": "apps/<str:name>",
    "policies/AllowAll": "policies/<str:name>",
}


def test_the_console_table_names_every_page_and_permission() -> None:
    from sekisho.console.urls import urlpatterns

    routes = {str(p.pattern) for p in urlpatterns}
    covered = set()
    for _method, path, _form, _permission in CONSOLE_ACTIONS:
        route = path.removeprefix("/admin/")
        covered.add(NAMED.get(route, route))
    assert routes == covered, routes ^ covered
    assert {p for *_rest, p in CONSOLE_ACTIONS} == {p.value for p in Permission}


@pytest.mark.parametrize("role", [None, "admin", "helpdesk", "auditor"])
def test_every_role_against_every_console_action(
    role, console_as, connect_app, make_user, actor: Actor, own_keys: None
) -> None:
    from sekisho.directory import services as directory

    make_user("target")
    directory.create_group("team", actor=actor)
    admin = console_as(role)
    admin.reauthenticated()  # sensitive actions: only the role decides here
    allowed_by = set()
    if role is not None:
        allowed_by = {p.value for p in ROLE_PERMISSIONS[Role(role)]}
    for method, path, form, permission in CONSOLE_ACTIONS:
        if method == "GET":
            response = admin.get(path)
        else:
            response = admin.post(path, form, page="/admin/" if role else "/apps")
        allowed = permission in allowed_by
        if allowed:
            assert response.status_code != 403, (role, method, path, response.content[:300])
            assert response.status_code < 500, (role, method, path)
        else:
            assert response.status_code == 403, (role, method, path, response.status_code)
        deleted = method == "POST" and allowed and form.get("action") == "delete"
        gone = not User.objects.filter(username="target").exists()
        if deleted and path.startswith("/admin/users") and gone:
            make_user("target")  # the deleted user comes back for the actions after it


def test_the_console_needs_mfa_and_recent_password_for_sensitive_actions(
    console_as, make_user, clock
) -> None:
    from sekisho.web.session import AUTH_KEY, REAUTH_KEY

    admin = console_as("admin")
    make_user("target")
    # Sensitive (granting a role) without a recent password: asked for it, nothing granted.
    session = admin.client.session
    session.pop(REAUTH_KEY, None)
    session.save()
    refused = admin.post(
        "/admin/users/target", {"action": "grant_role", "role": "admin"}, page="/admin/users/target"
    )
    assert refused.status_code == 302 and refused["Location"].startswith(
        "/account/verify?next=%2Fadmin%2Fusers%2Ftarget"
    )
    assert not roles.roles_of(admin_users.get_user("target"))
    reasons = [
        r.record["additionalEventData"]["Reason"]
        for r in AuditRecord.objects.filter(event_name="AdminAccess")
    ]
    assert "reauthentication_required" in reasons
    # The password again, then it works.
    admin.post(
        "/account/verify",
        {"password": "correct horse battery staple", "next": "/admin/users/target"},
        page="/account/verify?next=/admin/users/target",
    )
    done = admin.post(
        "/admin/users/target",
        {"action": "grant_role", "role": "auditor"},
        page="/admin/users/target",
    )
    assert done.status_code == 302 and done["Location"] == "/admin/users/target"
    # A session that skipped MFA (e.g. a trusted browser) is stepped up first.
    session = admin.client.session
    auth = dict(session[AUTH_KEY])
    auth["mfa"] = False
    session[AUTH_KEY] = auth
    session.save()
    stepped = admin.get("/admin/users")
    assert stepped.status_code == 302 and stepped["Location"].startswith(
        "/signin/mfa?next=%2Fadmin%2Fusers"
    )
    # Signed out: to the sign-in page.
    assert Client().get("/admin/").status_code == 302
