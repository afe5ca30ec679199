"""Groups and memberships, applications and assignments, IdP policies and the simulator."""

import json
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Body, HeaderEx, P, QueryEx, Router
from ninja.responses import Status

from sekisho.access import policies as stored
from sekisho.access.models import StoredPolicy
from sekisho.admin import applications, policies
from sekisho.admin import users as admin_users
from sekisho.admin.errors import NotFound
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
from sekisho.directory.models import Group
from sekisho.saml import assignments
from sekisho.saml import services as saml
from sekisho.saml.models import Application, Assignment

router = Router(tags=["catalog"])


def _group(group: Group) -> dict[str, Any]:
    return {
        "name": group.name,
        "description": group.description,
        "members": sorted(group.members.values_list("username", flat=True)),
        "created_at": group.created_at,
    }


def _page(rows: QuerySet[Any], key: str, limit: int, cursor: str | None) -> tuple[list[Any], Any]:
    after = decode_cursor(cursor, str)
    if after:
        rows = rows.filter(**{f"{key}__gt": after})
    found = list(rows.order_by(key)[: limit + 1])
    more = len(found) > limit
    found = found[:limit]
    return found, encode_cursor(getattr(found[-1], key)) if more and found else None


# ------------------------------------------------------------------ groups


@operation(router, "GET", "/groups", Permission.GROUPS_READ, response={200: schemas.GroupPage})
def list_groups(
    request: HttpRequest, limit: QueryEx[int, P(ge=1, le=200)] = 50, cursor: ShortText | None = None
) -> dict[str, Any]:
    """Groups by name, with their members."""
    found, more = _page(Group.objects.all(), "name", limit, cursor)
    return {"items": [_group(g) for g in found], "next_cursor": more}


@operation(router, "POST", "/groups", Permission.GROUPS_WRITE, response={201: schemas.Group})
def create_group(request: HttpRequest, body: schemas.GroupCreate) -> Status[dict[str, Any]]:
    """Create a group."""
    group = directory.create_group(
        body.name, description=body.description, actor=principal_of(request).actor()
    )
    return Status(201, _group(group))


@operation(router, "GET", "/groups/{name}", Permission.GROUPS_READ, response={200: schemas.Group})
def get_group(request: HttpRequest, name: str, response: HttpResponse) -> dict[str, Any]:
    """One group (with an ETag for updates)."""
    data = _group(admin_users.get_group(name))
    response["ETag"] = etag_of(data)
    return data


@operation(
    router, "PATCH", "/groups/{name}", Permission.GROUPS_WRITE, response={200: schemas.Group}
)
def update_group(
    request: HttpRequest,
    name: str,
    body: schemas.GroupPatch,
    response: HttpResponse,
    if_match: HeaderEx[str | None, P(alias="If-Match")] = None,
) -> dict[str, Any]:
    """Change a group's description (If-Match required)."""
    group = admin_users.get_group(name)
    check_if_match(if_match, etag_of(_group(group)))
    directory.update_group(group, description=body.description, actor=principal_of(request).actor())
    data = _group(group)
    response["ETag"] = etag_of(data)
    return data


@operation(router, "DELETE", "/groups/{name}", Permission.GROUPS_WRITE, response={204: None})
def delete_group(request: HttpRequest, name: str) -> Status[None]:
    """Delete a group (its members stay)."""
    directory.delete_group(admin_users.get_group(name), actor=principal_of(request).actor())
    return Status(204, None)


@operation(
    router,
    "PUT",
    "/groups/{name}/members/{username}",
    Permission.GROUPS_WRITE,
    response={204: None},
)
def add_group_member(request: HttpRequest, name: str, username: str) -> Status[None]:
    """Add a user to a group (idempotent)."""
    directory.add_member(
        admin_users.get_group(name),
        admin_users.get_user(username),
        actor=principal_of(request).actor(),
    )
    return Status(204, None)


@operation(
    router,
    "DELETE",
    "/groups/{name}/members/{username}",
    Permission.GROUPS_WRITE,
    response={204: None},
)
def remove_group_member(request: HttpRequest, name: str, username: str) -> Status[None]:
    """Remove a user from a group (idempotent)."""
    directory.remove_member(
        admin_users.get_group(name),
        admin_users.get_user(username),
        actor=principal_of(request).actor(),
    )
    return Status(204, None)


# ------------------------------------------------------------------ applications


def _app(app: Application) -> dict[str, Any]:
    data = saml.describe_app(app)
    name_id = data["name_id"]
    data["name_id"] = {
        "format": str(name_id["format"]),
        "value": str(name_id["value"]),
        "allowed_formats": [str(f) for f in name_id["allowed_formats"]],
    }
    data["attributes"] = [{k: str(v) for k, v in a.items()} for a in data["attributes"]]
    data["acs"] = [dict(e) for e in data["acs"]]
    data["single_logout"] = [dict(e) for e in data["single_logout"]]
    data["encryption"]["sp_methods"] = [str(m) for m in data["encryption"]["sp_methods"]]
    data["preset"] = dict(data["preset"])
    return data


@operation(
    router, "GET", "/applications", Permission.APPS_READ, response={200: schemas.ApplicationPage}
)
def list_applications(
    request: HttpRequest, limit: QueryEx[int, P(ge=1, le=200)] = 50, cursor: ShortText | None = None
) -> dict[str, Any]:
    """Applications by name."""
    found, more = _page(Application.objects.all(), "name", limit, cursor)
    return {"items": [_app(a) for a in found], "next_cursor": more}


@operation(
    router, "POST", "/applications", Permission.APPS_WRITE, response={201: schemas.Application}
)
def create_application(
    request: HttpRequest, body: Body[schemas.ApplicationCreate]
) -> Status[dict[str, Any]]:
    """Add an application: Amazon Connect or the AWS console from a preset, or any SAML SP."""
    actor = principal_of(request).actor()
    if isinstance(body, schemas.ConnectCreate):
        app = saml.create_amazon_connect_app(**body.model_dump(exclude={"kind"}), actor=actor)
    elif isinstance(body, schemas.ConsoleCreate):
        app = saml.create_aws_console_app(**body.model_dump(exclude={"kind"}), actor=actor)
    else:
        app = _create_saml(body, actor)
    return Status(201, _app(app))


def _create_saml(body: schemas.SamlCreate, actor: Any) -> Application:
    source = applications.metadata_source(
        document=body.metadata_xml.encode("utf-8") if body.metadata_xml else None,
        url=body.metadata_url,
        certificate=body.metadata_certificate,
    )
    mappings = applications.parse_mappings(
        [(a.name, a.value, a.name_format) for a in body.attributes]
    )
    with transaction.atomic():
        app = saml.create_saml_app(
            name=body.name,
            display_name=body.display_name,
            **source,
            entity_id=body.entity_id,
            name_id_format=body.name_id_format,
            name_id=body.name_id,
            attributes=[],
            relay_state=body.relay_state,
            sign_response=body.sign_response,
            require_signed_requests=body.require_signed_requests,
            encrypt_assertions=body.encrypt_assertions,
            actor=actor,
        )
        if mappings:
            saml.update_app(app, attribute_mappings=mappings, actor=actor)
    return app


@operation(
    router, "GET", "/applications/{name}", Permission.APPS_READ, response={200: schemas.Application}
)
def get_application(request: HttpRequest, name: str, response: HttpResponse) -> dict[str, Any]:
    """One application (with an ETag for updates)."""
    data = _app(applications.get_app(name))
    response["ETag"] = etag_of(data)
    return data


@operation(
    router,
    "PATCH",
    "/applications/{name}",
    Permission.APPS_WRITE,
    response={200: schemas.Application},
)
def update_application(
    request: HttpRequest,
    name: str,
    body: schemas.ApplicationPatch,
    response: HttpResponse,
    if_match: HeaderEx[str | None, P(alias="If-Match")] = None,
) -> dict[str, Any]:
    """Change the display name, relay state, NameID, attribute mappings, encryption or flags.

    Needs If-Match; the changes are made together or not at all.
    """
    app = applications.get_app(name)
    check_if_match(if_match, etag_of(_app(app)))
    actor = principal_of(request).actor()
    saml_settings = {
        "name_id_format": body.name_id_format,
        "allowed_name_id_formats": body.allowed_name_id_formats,
        "encrypt_assertions": body.encrypt_assertions,
        "encryption_algorithm": body.encryption_algorithm,
    }
    with transaction.atomic():
        if any(v is not None for v in saml_settings.values()):
            applications.update_saml_settings(app, actor=actor, **saml_settings)  # type: ignore[arg-type]
        applications.update(
            app,
            display_name=body.display_name,
            relay_state=body.relay_state,
            name_id=body.name_id,
            attributes=(
                [(a.name, a.value, a.name_format) for a in body.attributes]
                if body.attributes is not None
                else None
            ),
            sign_response=body.sign_response,
            require_mfa=body.require_mfa,
            actor=actor,
        )
    data = _app(app)
    response["ETag"] = etag_of(data)
    return data


@operation(
    router,
    "POST",
    "/applications/{name}/refresh",
    Permission.APPS_WRITE,
    response={200: schemas.Application},
)
def refresh_application_metadata(request: HttpRequest, name: str) -> dict[str, Any]:
    """Fetch the SP's metadata again from its URL (`app refresh`); a failure keeps the old."""
    app = applications.get_app(name)
    return _app(applications.refresh_metadata(app, actor=principal_of(request).actor()))


@operation(router, "DELETE", "/applications/{name}", Permission.APPS_DELETE, response={204: None})
def delete_application(request: HttpRequest, name: str) -> Status[None]:
    """Delete an application, its assignments and the policy attachments naming it."""
    saml.delete_app(applications.get_app(name), actor=principal_of(request).actor())
    return Status(204, None)


@operation(
    router,
    "GET",
    "/applications/{name}/assignments",
    Permission.APPS_READ,
    response={200: schemas.Assignments},
)
def list_assignments(request: HttpRequest, name: str) -> dict[str, Any]:
    """Who the application is assigned to, directly."""
    app = applications.get_app(name)
    rows = Assignment.objects.filter(application=app).select_related("user", "group")
    return {
        "users": sorted(a.user.username for a in rows if a.user),
        "groups": sorted(a.group.name for a in rows if a.group),
    }


def _assignment(request: HttpRequest, name: str, kind: str, target: str, assign: bool) -> None:
    app = applications.get_app(name)
    user = admin_users.get_user(target) if kind == "users" else None
    group = admin_users.get_group(target) if kind == "groups" else None
    actor = principal_of(request).actor()
    if assign:
        assignments.assign(app, user=user, group=group, actor=actor)
    else:
        assignments.unassign(app, user=user, group=group, actor=actor)


@operation(
    router,
    "PUT",
    "/applications/{name}/assignments/users/{username}",
    Permission.ASSIGNMENTS_WRITE,
    response={204: None},
)
def assign_user(request: HttpRequest, name: str, username: str) -> Status[None]:
    """Assign the application to a user (refused when the app cannot represent them)."""
    _assignment(request, name, "users", username, True)
    return Status(204, None)


@operation(
    router,
    "DELETE",
    "/applications/{name}/assignments/users/{username}",
    Permission.ASSIGNMENTS_WRITE,
    response={204: None},
)
def unassign_user(request: HttpRequest, name: str, username: str) -> Status[None]:
    """Remove a user's assignment (idempotent)."""
    _assignment(request, name, "users", username, False)
    return Status(204, None)


@operation(
    router,
    "PUT",
    "/applications/{name}/assignments/groups/{group}",
    Permission.ASSIGNMENTS_WRITE,
    response={204: None},
)
def assign_group(request: HttpRequest, name: str, group: str) -> Status[None]:
    """Assign the application to a group."""
    _assignment(request, name, "groups", group, True)
    return Status(204, None)


@operation(
    router,
    "DELETE",
    "/applications/{name}/assignments/groups/{group}",
    Permission.ASSIGNMENTS_WRITE,
    response={204: None},
)
def unassign_group(request: HttpRequest, name: str, group: str) -> Status[None]:
    """Remove a group's assignment (idempotent)."""
    _assignment(request, name, "groups", group, False)
    return Status(204, None)


@operation(
    router,
    "GET",
    "/applications/{name}/preview",
    Permission.APPS_PREVIEW,
    response={200: schemas.Preview},
)
def preview_assertion(
    request: HttpRequest, name: str, user: Name, mfa: bool = True
) -> dict[str, Any]:
    """The exact assertion a launch would post now for ``user``, decoded."""
    return {"xml": applications.preview(applications.get_app(name), user, mfa=mfa)}


# ------------------------------------------------------------------ policies


def _policy(found: Any) -> dict[str, Any]:
    data = stored.describe_policy(found)
    if not isinstance(data["document"], dict):
        data["document"] = {"document": data["document"]}
    return data


def _stored(name: str) -> Any:
    found = StoredPolicy.objects.filter(name=name).first()
    if found is None:
        raise NotFound(f"no policy named {name[:130]!r}")
    return found


@operation(router, "GET", "/policies", Permission.POLICIES_READ, response={200: schemas.PolicyPage})
def list_policies(
    request: HttpRequest, limit: QueryEx[int, P(ge=1, le=200)] = 50, cursor: ShortText | None = None
) -> dict[str, Any]:
    """The IdP's policies by name, with their attachments."""
    found, more = _page(StoredPolicy.objects.all(), "name", limit, cursor)
    return {"items": [_policy(p) for p in found], "next_cursor": more}


@operation(
    router,
    "POST",
    "/policies:validate",
    Permission.POLICIES_READ,
    response={200: schemas.Validation},
)
def validate_policy(request: HttpRequest, body: schemas.ValidateRequest) -> dict[str, Any]:
    """Check a document: every problem with its JSON path (nothing is stored)."""
    text = body.document if isinstance(body.document, str) else json.dumps(body.document)
    found = policies.problems(text)
    return {
        "valid": not found,
        "problems": [{"path": p.path, "message": p.message} for p in found],
    }


@operation(
    router,
    "POST",
    "/policies:simulate",
    Permission.POLICIES_SIMULATE,
    response={200: schemas.AccessCheck},
)
def simulate_policy(request: HttpRequest, body: schemas.SimulateRequest) -> dict[str, Any]:
    """Would the user, from the address, sign in (or open the application), and why."""
    return policies.simulate(
        username=body.user,
        source_ip=body.source_ip,
        application=body.application,
        mfa=body.mfa,
    ).to_json()


@operation(
    router, "GET", "/policies/{name}", Permission.POLICIES_READ, response={200: schemas.Policy}
)
def get_policy(request: HttpRequest, name: str, response: HttpResponse) -> dict[str, Any]:
    """One policy (with an ETag for updates)."""
    data = _policy(_stored(name))
    response["ETag"] = etag_of(data)
    return data


@operation(
    router,
    "PUT",
    "/policies/{name}",
    Permission.POLICIES_WRITE,
    response={200: schemas.Policy, 201: schemas.Policy},
)
def put_policy(
    request: HttpRequest,
    name: str,
    body: schemas.PolicyPut,
    response: HttpResponse,
    if_match: HeaderEx[str | None, P(alias="If-Match")] = None,
) -> Status[dict[str, Any]]:
    """Create a policy, or replace it (If-Match required to replace one that exists)."""
    existing = StoredPolicy.objects.filter(name=name).first()
    if existing is not None:
        check_if_match(if_match, etag_of(_policy(existing)))
    saved, created = stored.put_policy(
        name,
        json.dumps(body.document, ensure_ascii=False),
        description=body.description,
        actor=principal_of(request).actor(),
    )
    data = _policy(saved)
    response["ETag"] = etag_of(data)
    return Status(201 if created else 200, data)


@operation(router, "DELETE", "/policies/{name}", Permission.POLICIES_WRITE, response={204: None})
def delete_policy(request: HttpRequest, name: str) -> Status[None]:
    """Delete a policy that is attached nowhere."""
    _stored(name)
    stored.delete_policy(name, actor=principal_of(request).actor())
    return Status(204, None)


def _attach(
    request: HttpRequest, name: str, kind: str, target: str, attach: bool
) -> dict[str, Any]:
    _stored(name)
    where = policies.target(kind, target)
    actor = principal_of(request).actor()
    if attach:
        done = stored.attach(name, where, actor=actor)
        text = f"attached {name} to {where.describe()}" if done else "already attached"
    else:
        done = stored.detach(name, where, actor=actor)
        text = f"detached {name} from {where.describe()}" if done else "was not attached"
    return {"done": text, "count": int(done)}


@operation(
    router,
    "PUT",
    "/policies/{name}/attachments/idp",
    Permission.POLICIES_WRITE,
    response={200: schemas.Done},
)
def attach_policy_to_idp(request: HttpRequest, name: str) -> dict[str, Any]:
    """Attach a policy to the whole identity provider."""
    return _attach(request, name, "idp", "", True)


@operation(
    router,
    "DELETE",
    "/policies/{name}/attachments/idp",
    Permission.POLICIES_WRITE,
    response={200: schemas.Done},
)
def detach_policy_from_idp(request: HttpRequest, name: str) -> dict[str, Any]:
    """Detach a policy from the identity provider."""
    return _attach(request, name, "idp", "", False)


@operation(
    router,
    "PUT",
    "/policies/{name}/attachments/{kind}/{target}",
    Permission.POLICIES_WRITE,
    response={200: schemas.Done},
)
def attach_policy(
    request: HttpRequest, name: str, kind: schemas.TargetKind, target: str
) -> dict[str, Any]:
    """Attach a policy to a user, a group or an application."""
    return _attach(request, name, kind, target, True)


@operation(
    router,
    "DELETE",
    "/policies/{name}/attachments/{kind}/{target}",
    Permission.POLICIES_WRITE,
    response={200: schemas.Done},
)
def detach_policy(
    request: HttpRequest, name: str, kind: schemas.TargetKind, target: str
) -> dict[str, Any]:
    """Detach a policy from a user, a group or an application."""
    return _attach(request, name, kind, target, False)
