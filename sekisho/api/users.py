"""Users, their devices, sessions and roles, and CSV import/export."""

from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from ninja import HeaderEx, P, QueryEx, Router
from ninja.responses import Status

from sekisho.admin import csvio, policies, roles
from sekisho.admin import users as admin_users
from sekisho.admin.errors import InvalidInput
from sekisho.admin.roles import Permission
from sekisho.api import schemas
from sekisho.api.core import (
    Name,
    ShortText,
    check_if_match,
    decode_cursor,
    encode_cursor,
    etag_of,
    operation,
    principal_of,
)
from sekisho.directory import services as directory
from sekisho.portal.sessions import ActiveSession

router = Router(tags=["users"])


def _user(username: str) -> dict[str, Any]:
    return admin_users.describe(admin_users.get_user(username))


def _with_etag(response: HttpResponse, data: dict[str, Any]) -> dict[str, Any]:
    response["ETag"] = etag_of(data)
    return data


def session_out(found: ActiveSession) -> dict[str, Any]:
    """A session as the API shows it."""
    return {
        "session_id": found.session_id,
        "username": found.username,
        "signed_in": found.created_at,
        "last_seen": found.last_seen,
        "source_ip": found.source_ip,
        "user_agent": found.user_agent,
        "mfa": found.mfa,
    }


@operation(router, "GET", "/users", Permission.USERS_READ, response={200: schemas.UserPage})
def list_users(
    request: HttpRequest,
    q: ShortText = "",
    status: schemas.Status | None = None,
    group: ShortText = "",
    limit: QueryEx[int, P(ge=1, le=200)] = 50,
    cursor: ShortText | None = None,
) -> dict[str, Any]:
    """Users by username, searched by username, email or display name."""
    after = decode_cursor(cursor, str) or ""
    page, more = admin_users.search(
        query=q, status=status or "", group=group, after=after, limit=limit
    )
    return {
        "items": [
            {
                "username": u.username,
                "id": str(u.uid),
                "email": u.email,
                "display_name": u.display_name,
                "status": u.status,
                "groups": list(u.group_names()),
            }
            for u in page
        ],
        "next_cursor": encode_cursor(more) if more else None,
    }


@operation(router, "POST", "/users", Permission.USERS_CREATE, response={201: schemas.User})
def create_user(request: HttpRequest, body: schemas.UserCreate) -> Status[dict[str, Any]]:
    """Create a user (a password given is temporary unless ``temporary`` is false)."""
    user = admin_users.create_user(
        username=body.username,
        email=body.email,
        display_name=body.display_name,
        password=body.password,
        temporary=body.temporary,
        time_zone=body.time_zone,
        groups=tuple(body.groups),
        actor=principal_of(request).actor(),
    )
    return Status(201, admin_users.describe(user))


@operation(router, "GET", "/users/{username}", Permission.USERS_READ, response={200: schemas.User})
def get_user(request: HttpRequest, username: str, response: HttpResponse) -> dict[str, Any]:
    """One user (with an ETag for updates)."""
    return _with_etag(response, _user(username))


@operation(
    router, "PATCH", "/users/{username}", Permission.USERS_UPDATE, response={200: schemas.User}
)
def update_user(
    request: HttpRequest,
    username: str,
    body: schemas.UserPatch,
    response: HttpResponse,
    if_match: HeaderEx[str | None, P(alias="If-Match")] = None,
) -> dict[str, Any]:
    """Change a user's email, display name, time zone or RADIUS username (If-Match required)."""
    user = admin_users.get_user(username)
    check_if_match(if_match, etag_of(admin_users.describe(user)))
    actor = principal_of(request).actor()
    with transaction.atomic():
        directory.update_user(
            user,
            email=body.email,
            display_name=body.display_name,
            time_zone=body.time_zone,
            actor=actor,
        )
        if body.radius_username is not None:
            admin_users.update_radius_username(user, body.radius_username, actor=actor)
    return _with_etag(response, _user(username))


@operation(router, "DELETE", "/users/{username}", Permission.USERS_DELETE, response={204: None})
def delete_user(request: HttpRequest, username: str) -> Status[None]:
    """Delete a user (their sessions end; devices and memberships go)."""
    admin_users.delete_user(admin_users.get_user(username), actor=principal_of(request).actor())
    return Status(204, None)


def _action(request: HttpRequest, username: str, what: str) -> dict[str, Any]:
    user = admin_users.get_user(username)
    actor = principal_of(request).actor()
    count = 0
    if what == "disable":
        admin_users.set_status(user, active=False, actor=actor)
    elif what == "enable":
        admin_users.set_status(user, active=True, actor=actor)
    elif what == "unlock":
        count = admin_users.unlock(user, actor=actor)
    elif what == "reset-mfa":
        count = admin_users.reset_mfa(user, actor=actor)
    return {"done": f"{what} {user.username}", "count": count}


@operation(
    router,
    "POST",
    "/users/{username}/disable",
    Permission.USERS_DISABLE,
    response={200: schemas.Done},
)
def disable_user(request: HttpRequest, username: str) -> dict[str, Any]:
    """Disable a user: sign-in, sessions and launches stop at once, on every node."""
    return _action(request, username, "disable")


@operation(
    router,
    "POST",
    "/users/{username}/enable",
    Permission.USERS_DISABLE,
    response={200: schemas.Done},
)
def enable_user(request: HttpRequest, username: str) -> dict[str, Any]:
    """Enable a disabled user."""
    return _action(request, username, "enable")


@operation(
    router,
    "POST",
    "/users/{username}/unlock",
    Permission.USERS_UNLOCK,
    response={200: schemas.Done},
)
def unlock_user(request: HttpRequest, username: str) -> dict[str, Any]:
    """Lift the user's password and MFA locks."""
    return _action(request, username, "unlock")


@operation(
    router,
    "POST",
    "/users/{username}/reset-mfa",
    Permission.USERS_RESET_MFA,
    response={200: schemas.Done},
)
def reset_user_mfa(request: HttpRequest, username: str) -> dict[str, Any]:
    """Forget the user's devices, recovery codes and trusted browsers."""
    return _action(request, username, "reset-mfa")


@operation(
    router,
    "POST",
    "/users/{username}/password",
    Permission.USERS_SET_PASSWORD,
    response={200: schemas.Done},
)
def set_user_password(
    request: HttpRequest, username: str, body: schemas.PasswordSet
) -> dict[str, Any]:
    """Set a password (temporary by default); the user's sessions end."""
    user = admin_users.get_user(username)
    ended = admin_users.set_password(
        user, body.password, temporary=body.temporary, actor=principal_of(request).actor()
    )
    kind = "temporary password" if body.temporary else "password"
    return {"done": f"{kind} set for {user.username}", "count": ended}


@operation(
    router,
    "GET",
    "/users/{username}/devices",
    Permission.USERS_READ,
    response={200: list[schemas.Device]},
)
def list_user_devices(request: HttpRequest, username: str) -> list[dict[str, Any]]:
    """The user's registered MFA devices."""
    return list(_user(username)["mfa_devices"])


@operation(
    router,
    "DELETE",
    "/users/{username}/devices/{method}/{device_id}",
    Permission.DEVICES_REMOVE,
    response={204: None},
)
def delete_user_device(
    request: HttpRequest, username: str, method: schemas.Method, device_id: str
) -> Status[None]:
    """Remove one device (lost or stolen); trusted browsers stop being trusted."""
    admin_users.remove_device(
        admin_users.get_user(username), method, device_id, actor=principal_of(request).actor()
    )
    return Status(204, None)


@operation(
    router,
    "GET",
    "/users/{username}/sessions",
    Permission.SESSIONS_READ,
    response={200: list[schemas.Session]},
)
def list_user_sessions(request: HttpRequest, username: str) -> list[dict[str, Any]]:
    """The user's signed-in sessions, newest first."""
    return [session_out(s) for s in admin_users.active_sessions(admin_users.get_user(username))]


@operation(
    router,
    "DELETE",
    "/users/{username}/sessions",
    Permission.SESSIONS_REVOKE,
    response={200: schemas.Done},
)
def revoke_user_sessions(request: HttpRequest, username: str) -> dict[str, Any]:
    """End every session of the user, on every node."""
    user = admin_users.get_user(username)
    ended = admin_users.revoke_sessions(user, actor=principal_of(request).actor())
    return {"done": f"ended the sessions of {user.username}", "count": ended}


@operation(
    router,
    "PUT",
    "/users/{username}/roles/{role}",
    Permission.ROLES_GRANT,
    response={200: schemas.Done},
)
def grant_role(request: HttpRequest, username: str, role: schemas.RoleName) -> dict[str, Any]:
    """Grant an administrative role (idempotent)."""
    user = admin_users.get_user(username)
    done = roles.grant(user, roles.parse_role(role), actor=principal_of(request).actor())
    return {"done": f"{role} {'granted to' if done else 'already held by'} {user.username}"}


@operation(
    router,
    "DELETE",
    "/users/{username}/roles/{role}",
    Permission.ROLES_GRANT,
    response={200: schemas.Done},
)
def revoke_role(request: HttpRequest, username: str, role: schemas.RoleName) -> dict[str, Any]:
    """Take an administrative role away (idempotent)."""
    user = admin_users.get_user(username)
    done = roles.revoke(user, roles.parse_role(role), actor=principal_of(request).actor())
    return {"done": f"{role} {'revoked from' if done else 'not held by'} {user.username}"}


@operation(
    router,
    "GET",
    "/users/{username}/access",
    Permission.POLICIES_SIMULATE,
    response={200: schemas.AccessCheck},
)
def check_user_access(
    request: HttpRequest,
    username: str,
    source_ip: Name,
    application: Name | None = None,
    mfa: bool = False,
) -> dict[str, Any]:
    """Would this user, from this address, sign in (or open the application), and why."""
    decision = policies.simulate(
        username=username, source_ip=source_ip, application=application, mfa=mfa
    )
    return decision.to_json()


@operation(
    router, "GET", "/sessions", Permission.SESSIONS_READ, response={200: schemas.SessionPage}
)
def list_sessions(
    request: HttpRequest, limit: QueryEx[int, P(ge=1, le=200)] = 50, cursor: ShortText | None = None
) -> dict[str, Any]:
    """Every signed-in session, newest first."""
    offset = decode_cursor(cursor, int) or 0
    if offset < 0:
        raise InvalidInput("the cursor is not one this API returned", field="cursor")
    found = admin_users.active_sessions()
    page = found[offset : offset + limit]
    more = offset + limit < len(found)
    return {
        "items": [session_out(s) for s in page],
        "next_cursor": encode_cursor(offset + limit) if more else None,
    }


@operation(
    router, "DELETE", "/sessions/{session_id}", Permission.SESSIONS_REVOKE, response={204: None}
)
def revoke_session(request: HttpRequest, session_id: str) -> Status[None]:
    """End one session (its browser is signed out at its next request, on any node)."""
    admin_users.revoke_session(session_id, actor=principal_of(request).actor())
    return Status(204, None)


@operation(
    router, "POST", "/users:import", Permission.USERS_IMPORT, response={200: schemas.ImportReport}
)
def import_users(request: HttpRequest, body: schemas.ImportRequest) -> dict[str, Any]:
    """Import users from CSV: a dry run (the default) reports every bad row and changes nothing."""
    report = csvio.import_users(
        body.csv.encode("utf-8"),
        dry_run=body.dry_run,
        skip_bad=body.skip_bad,
        actor=principal_of(request).actor(),
    )
    return {
        "dry_run": report.dry_run,
        "applied": report.applied,
        "rows": report.rows,
        "valid": report.valid,
        "bad_rows": report.bad_rows,
        "created": report.created,
        "problems": [p.__dict__ for p in report.problems],
    }


@operation(
    router,
    "GET",
    "/users:export",
    Permission.USERS_EXPORT,
    openapi_extra={
        "responses": {
            "200": {
                "description": "Every user as CSV (UTF-8 with a BOM)",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        }
    },
)
def export_users(request: HttpRequest) -> HttpResponse:
    """Every user as CSV, the same columns an import reads."""
    response = HttpResponse(csvio.export_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="sekisho-users.csv"'
    return response
