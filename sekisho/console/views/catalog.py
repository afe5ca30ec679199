"""Groups and memberships, applications (presets, metadata, mappings, preview, assignments),
and the IdP's policies (JSON editor, attachments, simulator)."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from sekisho.access import policies as stored
from sekisho.access.models import StoredPolicy
from sekisho.admin import applications, policies
from sekisho.admin import users as admin_users
from sekisho.admin.errors import InvalidInput, NotFound
from sekisho.admin.roles import Permission
from sekisho.console.guard import Console, console_page
from sekisho.console.views.common import field, page
from sekisho.directory import services as directory
from sekisho.directory.models import Group, User
from sekisho.errors import SekishoError
from sekisho.policy import PolicyError
from sekisho.saml import assignments
from sekisho.saml import services as saml
from sekisho.saml.models import Application, Assignment

# ------------------------------------------------------------------ groups


@console_page(Permission.GROUPS_READ)
def group_list(request: HttpRequest, console: Console) -> HttpResponse:
    """Groups, and a form to create one."""
    context: dict[str, Any] = {"groups": Group.objects.order_by("name").prefetch_related("members")}
    if request.method == "POST":
        refused = console.check(Permission.GROUPS_WRITE)
        if refused is not None:
            return refused
        try:
            group = directory.create_group(
                field(console, "name", 128),
                description=field(console, "description", 512),
                actor=console.actor,
            )
        except SekishoError as exc:
            return page(console, "groups.html", context, section="groups", error=exc)
        console.notice(_("The group was created."))
        return redirect(f"/admin/groups/{group.name}")
    return page(console, "groups.html", context, section="groups")


@console_page(Permission.GROUPS_READ)
def group_detail(request: HttpRequest, console: Console, name: str) -> HttpResponse:
    """One group: description, members (add, remove), deletion."""
    try:
        group = admin_users.get_group(name)
    except NotFound as exc:
        return page(console, "group.html", {}, section="groups", error=exc)
    context: dict[str, Any] = {
        "group": group,
        "members": group.members.order_by("username"),
        "apps": Application.objects.filter(assignments__group=group).order_by("name"),
    }
    if request.method != "POST":
        return page(console, "group.html", context, section="groups")
    refused = console.check(Permission.GROUPS_WRITE)
    if refused is not None:
        return refused
    action = field(console, "action", 32)
    try:
        if action == "update":
            directory.update_group(
                group, description=field(console, "description", 512), actor=console.actor
            )
            console.notice(_("The group was updated."))
        elif action in ("add", "remove"):
            user = admin_users.get_user(field(console, "username", 128))
            if action == "add":
                directory.add_member(group, user, actor=console.actor)
                console.notice(_("The user was added to the group."))
            else:
                directory.remove_member(group, user, actor=console.actor)
                console.notice(_("The user was removed from the group."))
        elif action == "delete":
            if request.POST.get("confirm") != "yes":
                raise InvalidInput("tick the box to confirm the deletion", field="confirm")
            directory.delete_group(group, actor=console.actor)
            console.notice(_("The group was deleted."))
            return redirect("/admin/groups")
        else:
            return page(console, "group.html", context, section="groups", status=400)
    except SekishoError as exc:
        return page(console, "group.html", context, section="groups", error=exc)
    return redirect(f"/admin/groups/{group.name}")


# ------------------------------------------------------------------ applications


@console_page(Permission.APPS_READ)
def app_list(request: HttpRequest, console: Console) -> HttpResponse:
    """Applications."""
    apps = Application.objects.order_by("name")
    return page(console, "apps.html", {"apps": apps}, section="apps")


def _int_or_none(text: str, name: str) -> int | None:
    if not text.strip():
        return None
    if not text.strip().isdigit() or len(text.strip()) > 6:
        raise InvalidInput(f"{name} must be a whole number", field=name)
    return int(text.strip())


@console_page(Permission.APPS_WRITE)
def app_new(request: HttpRequest, console: Console) -> HttpResponse:
    """Add an application: Amazon Connect or the AWS console preset, or any SAML SP."""
    kind = request.POST.get("kind") or request.GET.get("kind") or "amazon-connect"
    if kind not in ("amazon-connect", "aws-console", "saml"):
        kind = "amazon-connect"
    context: dict[str, Any] = {"kind": kind, "form": request.POST}
    if request.method != "POST":
        return page(console, "app_new.html", context, section="apps")
    actor = console.actor
    try:
        duration = _int_or_none(field(console, "session_duration", 8), "session_duration")
        if kind == "amazon-connect":
            app = saml.create_amazon_connect_app(
                name=field(console, "name", 64),
                display_name=field(console, "display_name", 128) or None,
                region=field(console, "region", 64),
                instance_id=field(console, "instance_id", 128),
                account_id=field(console, "account_id", 32),
                role_name=field(console, "role_name", 128),
                provider_name=field(console, "provider_name", 128),
                destination=field(console, "destination", 256) or None,
                acs="regional" if request.POST.get("acs") == "regional" else "global",
                session_duration=duration,
                signin_url=field(console, "signin_url", 2048) or None,
                console_url=field(console, "console_url", 2048) or None,
                logout_url=field(console, "logout_url", 2048).strip() or None,
                actor=actor,
            )
        elif kind == "aws-console":
            app = saml.create_aws_console_app(
                name=field(console, "name", 64),
                display_name=field(console, "display_name", 128) or None,
                account_id=field(console, "account_id", 32),
                role_name=field(console, "role_name", 128),
                provider_name=field(console, "provider_name", 128),
                region=field(console, "region", 64) or None,
                relay_state=field(console, "relay_state", 2048) or None,
                session_duration=duration,
                signin_url=field(console, "signin_url", 2048) or None,
                actor=actor,
            )
        else:
            upload = request.FILES.get("metadata")
            document = upload.read(1024 * 1024 + 1) if upload is not None else None
            source = applications.metadata_source(
                document=document,
                url=field(console, "metadata_url", 2048).strip() or None,
                certificate=field(console, "metadata_certificate", 16384),
            )
            encrypt = request.POST.get("encrypt_assertions") or "auto"
            app = saml.create_saml_app(
                name=field(console, "name", 64),
                display_name=field(console, "display_name", 128) or None,
                entity_id=field(console, "entity_id", 1024) or None,
                # Unchosen: the first format the SP's metadata declares (issue 11).
                name_id_format=request.POST.get("name_id_format")
                if request.POST.get("name_id_format") in saml.NAME_ID_FORMATS
                else None,
                name_id=None,
                attributes=[],
                relay_state=field(console, "relay_state", 2048),
                sign_response=request.POST.get("sign_response") == "on",
                require_signed_requests=request.POST.get("require_signed_requests") == "on",
                encrypt_assertions=encrypt if encrypt in applications.ENCRYPT_MODES else "auto",
                actor=actor,
                **source,
            )
    except SekishoError as exc:
        return page(console, "app_new.html", context, section="apps", error=exc)
    console.notice(_("The application was added."))
    return redirect(f"/admin/apps/{app.name}")


def _short_format(app: Application) -> str:
    """The short name (unspecified, emailAddress, ...) of the app's NameID format."""
    names = {urn: short for short, urn in saml.NAME_ID_FORMATS.items()}
    return names.get(app.name_id_format, "")


def _mapping_rows(request: HttpRequest) -> list[tuple[str, str, str]]:
    names = request.POST.getlist("attr_name")[:60]
    values = request.POST.getlist("attr_value")[:60]
    formats = request.POST.getlist("attr_format")[:60]
    rows = []
    for index, name in enumerate(names):
        value = values[index] if index < len(values) else ""
        fmt = formats[index] if index < len(formats) else "basic"
        rows.append((name[:300], value[:2100], fmt[:20]))
    return rows


APP_ACTIONS = {
    "settings": Permission.APPS_WRITE,
    "saml_settings": Permission.APPS_WRITE,
    "refresh": Permission.APPS_WRITE,
    "mappings": Permission.APPS_WRITE,
    "assign": Permission.ASSIGNMENTS_WRITE,
    "unassign": Permission.ASSIGNMENTS_WRITE,
    "preview": Permission.APPS_PREVIEW,
    "delete": Permission.APPS_DELETE,
}


@console_page(Permission.APPS_READ)
def app_detail(request: HttpRequest, console: Console, name: str) -> HttpResponse:
    """One application: settings, attribute mappings, assignments, preview, deletion."""
    try:
        app = applications.get_app(name)
    except NotFound as exc:
        return page(console, "app.html", {}, section="apps", error=exc)
    rows = Assignment.objects.filter(application=app).select_related("user", "group")
    context: dict[str, Any] = {
        "app": app,
        "info": saml.describe_app(app),
        "mappings": [*app.attribute_mappings, *({} for _ in range(3))],
        "assigned_users": sorted(a.user.username for a in rows if a.user),
        "assigned_groups": sorted(a.group.name for a in rows if a.group),
        "groups": Group.objects.order_by("name").values_list("name", flat=True),
        "metadata_url": saml.idp_identity().entity_id,
        "name_id_formats": applications.NAME_ID_FORMATS,
        "name_id_format": _short_format(app),
        "allowed_formats": [
            short for short, urn in saml.NAME_ID_FORMATS.items() if urn in app.name_id_formats
        ],
        "encryption_algorithms": applications.ENCRYPTION_ALGORITHMS,
        "encryption_algorithm": saml.encryption_algorithm_name(app),
    }
    if request.method != "POST":
        return page(console, "app.html", context, section="apps")
    action = field(console, "action", 32)
    permission = APP_ACTIONS.get(action)
    if permission is None:
        return page(console, "app.html", context, section="apps", status=400)
    refused = console.check(permission)
    if refused is not None:
        return refused
    actor = console.actor
    try:
        if action == "settings":
            saml.update_app(
                app,
                display_name=field(console, "display_name", 128),
                relay_state=field(console, "relay_state", 2048),
                require_mfa=request.POST.get("require_mfa") == "on",
                sign_response=request.POST.get("sign_response") == "on",
                actor=actor,
            )
            console.notice(_("The application was updated."))
        elif action == "saml_settings":
            chosen = field(console, "name_id_format", 16) or _short_format(app)
            algorithm = field(console, "encryption_algorithm", 16)
            applications.update_saml_settings(
                app,
                # Unchanged format: keep the NameID value mapping the administrator wrote.
                name_id_format=chosen if chosen != _short_format(app) else None,
                # None ticked: only the default format (and, always, the opaque ones).
                allowed_name_id_formats=[
                    f[:16] for f in request.POST.getlist("allowed_name_id_formats")[:8]
                ]
                or [chosen],
                encrypt_assertions=field(console, "encrypt_assertions", 8),
                encryption_algorithm=algorithm,
                actor=actor,
            )
            console.notice(_("The NameID and encryption settings were saved."))
        elif action == "refresh":
            applications.refresh_metadata(app, actor=actor)
            console.notice(_("The SP's metadata was fetched again."))
        elif action == "mappings":
            applications.update(
                app,
                name_id=field(console, "name_id", 256),
                attributes=_mapping_rows(request),
                actor=actor,
            )
            console.notice(_("The attribute mappings were saved."))
        elif action in ("assign", "unassign"):
            target = field(console, "target", 128)
            is_group = request.POST.get("target_kind") == "group"
            user: User | None = None if is_group else admin_users.get_user(target)
            group = admin_users.get_group(target) if is_group else None
            if action == "assign":
                assignments.assign(app, user=user, group=group, actor=actor)
                console.notice(_("The application was assigned."))
            else:
                assignments.unassign(app, user=user, group=group, actor=actor)
                console.notice(_("The assignment was removed."))
        elif action == "preview":
            context["preview_user"] = field(console, "username", 128)
            context["preview_mfa"] = request.POST.get("mfa") == "on"
            context["preview"] = applications.preview(
                app, context["preview_user"], mfa=context["preview_mfa"]
            )
            return page(console, "app.html", context, section="apps")
        else:
            if request.POST.get("confirm") != "yes":
                raise InvalidInput("tick the box to confirm the deletion", field="confirm")
            saml.delete_app(app, actor=actor)
            console.notice(_("The application was deleted."))
            return redirect("/admin/apps")
    except SekishoError as exc:
        if action == "mappings":
            context["mappings"] = [
                {"name": n, "value": v, "name_format": f} for n, v, f in _mapping_rows(request)
            ]
            context["name_id"] = field(console, "name_id", 256)
        if action == "refresh":
            context["info"] = saml.describe_app(app)  # with the reason it was refused
        return page(console, "app.html", context, section="apps", error=exc)
    return redirect(f"/admin/apps/{app.name}")


# ------------------------------------------------------------------ policies


@console_page(Permission.POLICIES_READ)
def policy_list(request: HttpRequest, console: Console) -> HttpResponse:
    """The IdP's policies and where they are attached; a form to write a new one."""
    rows = [stored.describe_policy(p) for p in stored.list_policies()]
    return page(console, "policies.html", {"policies": rows}, section="policies")


def _targets() -> dict[str, Any]:
    return {
        "users": User.objects.order_by("username").values_list("username", flat=True)[:500],
        "groups": Group.objects.order_by("name").values_list("name", flat=True),
        "apps": Application.objects.order_by("name").values_list("name", flat=True),
    }


NEW_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sekisho:SignIn", "Resource": "*"}],
    },
    indent=2,
)


@console_page(Permission.POLICIES_READ)
def policy_edit(request: HttpRequest, console: Console, name: str = "") -> HttpResponse:
    """The JSON editor (every problem with its JSON path), attachments, deletion."""
    existing = StoredPolicy.objects.filter(name=name).first() if name else None
    if name and existing is None:
        return page(
            console, "policy.html", {}, section="policies", error=NotFound("no such policy")
        )
    context: dict[str, Any] = {
        "name": name,
        "policy": stored.describe_policy(existing) if existing else None,
        "document": policies.pretty(existing.document) if existing else NEW_POLICY,
        "description": existing.description if existing else "",
        **_targets(),
    }
    if request.method != "POST":
        return page(console, "policy.html", context, section="policies")
    refused = console.check(Permission.POLICIES_WRITE)
    if refused is not None:
        return refused
    action = field(console, "action", 32)
    try:
        if action == "save":
            new_name = name or field(console, "name", 128)
            document = field(console, "document", policies.MAX_DOCUMENT_CHARS)
            context.update(document=document, description=field(console, "description", 1000))
            problems = policies.problems(document, name=new_name or "policy")
            if problems:
                context["problems"] = problems
                return page(console, "policy.html", context, section="policies", status=400)
            stored.put_policy(
                new_name,
                document,
                description=context["description"],
                actor=console.actor,
            )
            console.notice(_("The policy was saved."))
            return redirect(f"/admin/policies/{new_name}")
        if action in ("attach", "detach"):
            where = policies.target(
                field(console, "target_kind", 16), field(console, "target", 128)
            )
            if action == "attach":
                stored.attach(name, where, actor=console.actor)
                console.notice(_("The policy was attached."))
            else:
                stored.detach(name, where, actor=console.actor)
                console.notice(_("The policy was detached."))
        elif action == "delete":
            stored.delete_policy(name, actor=console.actor)
            console.notice(_("The policy was deleted."))
            return redirect("/admin/policies")
        else:
            return page(console, "policy.html", context, section="policies", status=400)
    except PolicyError as exc:
        context["problems"] = exc.problems
        return page(console, "policy.html", context, section="policies", status=400)
    except SekishoError as exc:
        return page(console, "policy.html", context, section="policies", error=exc)
    return redirect(f"/admin/policies/{name}")


@console_page(Permission.POLICIES_SIMULATE)
def policy_simulate(request: HttpRequest, console: Console) -> HttpResponse:
    """The simulator: would this user, from this address, get in, and why."""
    context: dict[str, Any] = {
        "apps": Application.objects.order_by("name").values_list("name", flat=True),
        "form": {
            "user": request.GET.get("user", "")[:128],
            "source_ip": request.GET.get("source_ip", "")[:64],
            "application": request.GET.get("application", "")[:64],
            "mfa": request.GET.get("mfa") == "on",
        },
    }
    form = context["form"]
    if form["user"] or form["source_ip"]:
        try:
            context["decision"] = policies.simulate(
                username=form["user"],
                source_ip=form["source_ip"].strip(),
                application=form["application"] or None,
                mfa=form["mfa"],
            )
        except SekishoError as exc:
            return page(console, "simulate.html", context, section="policies", error=exc)
    return page(console, "simulate.html", context, section="policies")
