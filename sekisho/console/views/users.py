"""Users: search, create, one user's page with every action, CSV import and export."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import urlencode

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from sekisho.admin import csvio, policies, roles
from sekisho.admin import users as admin_users
from sekisho.admin.errors import ImportInvalid, InvalidInput, NotFound
from sekisho.admin.roles import Permission
from sekisho.console.guard import Console, console_page, role_labels
from sekisho.console.views.common import field, page, zones
from sekisho.directory import services as directory
from sekisho.directory.models import Group
from sekisho.errors import SekishoError
from sekisho.saml.models import Application

IMPORT_KEY = "console_import"
MAX_IMPORT_BYTES = 400 * 1024


@console_page(Permission.USERS_READ)
def user_list(request: HttpRequest, console: Console) -> HttpResponse:
    """Search and filter users."""
    query = request.GET.get("q", "")[:128]
    status = request.GET.get("status", "")
    group = request.GET.get("group", "")[:128]
    after = request.GET.get("after", "")[:128]
    try:
        found, more = admin_users.search(
            query=query,
            status=status if status in ("active", "disabled") else "",
            group=group,
            after=after,
            limit=50,
        )
    except InvalidInput as exc:
        return page(console, "users.html", {"users": []}, section="users", error=exc)
    next_link = None
    if more:
        next_link = "?" + urlencode({"q": query, "status": status, "group": group, "after": more})
    return page(
        console,
        "users.html",
        {
            "users": found,
            "q": query,
            "status": status,
            "group": group,
            "groups": Group.objects.order_by("name").values_list("name", flat=True),
            "next_link": next_link,
        },
        section="users",
    )


@console_page(Permission.USERS_CREATE)
def user_new(request: HttpRequest, console: Console) -> HttpResponse:
    """Create a user, with a temporary password to hand over (generated or typed)."""
    groups = list(Group.objects.order_by("name").values_list("name", flat=True))
    context: dict[str, Any] = {"zones": zones(), "groups": groups, "form": {}}
    if request.method != "POST":
        return page(console, "user_new.html", context, section="users")
    choice = field(console, "password_choice", 16)
    form: dict[str, Any] = {
        "username": field(console, "username", 128),
        "email": field(console, "email", 254),
        "display_name": field(console, "display_name", 256),
        "time_zone": field(console, "time_zone", 64),
        "password_choice": choice,
        "groups": [g[:128] for g in request.POST.getlist("groups")[:100]],
    }
    context["form"] = form
    password: str | None = None
    if choice == "typed":
        password = field(console, "password", 256)
    elif choice != "none":
        password = admin_users.temporary_password()
    try:
        user = admin_users.create_user(
            username=form["username"],
            email=form["email"],
            display_name=form["display_name"] or None,
            password=password,
            temporary=True,
            time_zone=form["time_zone"],
            groups=tuple(form["groups"]),
            actor=console.actor,
        )
    except SekishoError as exc:
        return page(console, "user_new.html", context, section="users", error=exc)
    if password is not None and choice != "typed":
        request.session["console_password"] = {"user": user.username, "password": password}
    console.notice(_("The user was created."))
    return redirect(f"/admin/users/{user.username}")


def _user_context(console: Console, username: str) -> dict[str, Any]:
    user = admin_users.get_user(username)
    described = admin_users.describe(user)
    shown = console.request.session.pop("console_password", None)
    return {
        "user": user,
        "info": described,
        "roles_held": described["roles"],
        "role_labels": role_labels(),
        "all_roles": [r.value for r in roles.Role],
        "sessions": admin_users.active_sessions(user),
        "zones": zones(),
        "groups": list(Group.objects.order_by("name").values_list("name", flat=True)),
        "apps": list(Application.objects.order_by("name").values_list("name", flat=True)),
        "new_password": shown["password"]
        if isinstance(shown, dict) and shown.get("user") == user.username
        else None,
        "locks": admin_users.lock_state(user),
    }


# The action a POST names -> (permission, what it does).
ACTIONS = {
    "update": Permission.USERS_UPDATE,
    "disable": Permission.USERS_DISABLE,
    "enable": Permission.USERS_DISABLE,
    "unlock": Permission.USERS_UNLOCK,
    "reset_mfa": Permission.USERS_RESET_MFA,
    "set_password": Permission.USERS_SET_PASSWORD,
    "delete": Permission.USERS_DELETE,
    "grant_role": Permission.ROLES_GRANT,
    "revoke_role": Permission.ROLES_GRANT,
    "add_group": Permission.GROUPS_WRITE,
    "remove_group": Permission.GROUPS_WRITE,
    "remove_device": Permission.DEVICES_REMOVE,
    "revoke_session": Permission.SESSIONS_REVOKE,
    "revoke_sessions": Permission.SESSIONS_REVOKE,
    "check_access": Permission.POLICIES_SIMULATE,
}


@console_page(Permission.USERS_READ)
def user_detail(request: HttpRequest, console: Console, username: str) -> HttpResponse:
    """One user: details, status, roles, groups, devices, sessions and effective access."""
    try:
        context = _user_context(console, username)
    except NotFound as exc:
        return page(console, "user.html", {}, section="users", error=exc)
    if request.method != "POST":
        return page(console, "user.html", context, section="users")
    action = field(console, "action", 32)
    permission = ACTIONS.get(action)
    if permission is None:
        return page(console, "user.html", context, section="users", status=400)
    refused = console.check(permission)
    if refused is not None:
        return refused
    user = context["user"]
    try:
        result = _act(console, user, action, context)
    except SekishoError as exc:
        return page(console, "user.html", context, section="users", error=exc)
    if isinstance(result, HttpResponse):
        return result
    console.notice(result)
    if action == "delete":
        return redirect("/admin/users")
    return redirect(f"/admin/users/{user.username}")


def _act(console: Console, user: Any, action: str, context: dict[str, Any]) -> Any:
    """Do one action of the user page; returns the notice, or a page to show instead."""
    actor = console.actor
    if action == "update":
        with transaction.atomic():
            directory.update_user(
                user,
                email=field(console, "email", 254),
                display_name=field(console, "display_name", 256),
                time_zone=field(console, "time_zone", 64),
                actor=actor,
            )
            if "radius_username" in console.request.POST:
                admin_users.update_radius_username(
                    user, field(console, "radius_username", 256), actor=actor
                )
        return _("The user was updated.")
    if action in ("disable", "enable"):
        admin_users.set_status(user, active=action == "enable", actor=actor)
        return _("The user was enabled.") if action == "enable" else _("The user was disabled.")
    if action == "unlock":
        admin_users.unlock(user, actor=actor)
        return _("The user was unlocked.")
    if action == "reset_mfa":
        admin_users.reset_mfa(user, actor=actor)
        return _("The user's MFA devices were reset; they register again at the next sign-in.")
    if action == "set_password":
        typed = field(console, "password", 256)
        password = typed or admin_users.temporary_password()
        admin_users.set_password(user, password, temporary=True, actor=actor)
        if not typed:
            console.request.session["console_password"] = {
                "user": user.username,
                "password": password,
            }
        return _("A temporary password was set; the user's sessions were ended.")
    if action == "delete":
        if console.request.POST.get("confirm") != "yes":
            raise InvalidInput("tick the box to confirm the deletion", field="confirm")
        admin_users.delete_user(user, actor=actor)
        return _("The user was deleted.")
    if action in ("grant_role", "revoke_role"):
        role = roles.parse_role(field(console, "role", 16))
        if action == "grant_role":
            roles.grant(user, role, actor=actor)
            return _("The role was granted.")
        roles.revoke(user, role, actor=actor)
        return _("The role was taken away.")
    if action in ("add_group", "remove_group"):
        group = admin_users.get_group(field(console, "group", 128))
        if action == "add_group":
            directory.add_member(group, user, actor=actor)
            return _("The user was added to the group.")
        directory.remove_member(group, user, actor=actor)
        return _("The user was removed from the group.")
    if action == "remove_device":
        admin_users.remove_device(
            user, field(console, "method", 16), field(console, "device", 64), actor=actor
        )
        return _("The device was removed.")
    if action == "revoke_session":
        admin_users.revoke_session(field(console, "session", 64), actor=actor)
        return _("The session was ended.")
    if action == "revoke_sessions":
        count = admin_users.revoke_sessions(user, actor=actor)
        return _("%(count)d session(s) were ended.") % {"count": count}
    # check_access: shown on the page itself, nothing changes.
    decision = policies.simulate(
        username=user.username,
        source_ip=field(console, "source_ip", 64).strip(),
        application=field(console, "application", 64) or None,
        mfa=console.request.POST.get("mfa") == "on",
    )
    context["access"] = {
        "decision": decision,
        "source_ip": field(console, "source_ip", 64).strip(),
        "application": field(console, "application", 64),
        "mfa": console.request.POST.get("mfa") == "on",
    }
    return page(console, "user.html", context, section="users")


@console_page(Permission.USERS_EXPORT)
def user_export(request: HttpRequest, console: Console) -> HttpResponse:
    """Every user as CSV (UTF-8 with a BOM: Excel reads Japanese names right)."""
    response = HttpResponse(csvio.export_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="sekisho-users.csv"'
    return response


def _kept(request: HttpRequest) -> tuple[bytes, str] | None:
    kept = request.session.get(IMPORT_KEY)
    if not isinstance(kept, dict):
        return None
    try:
        return base64.b64decode(str(kept.get("csv", ""))), str(kept.get("name", ""))
    except (binascii.Error, ValueError):
        return None


@console_page(Permission.USERS_IMPORT)
def user_import(request: HttpRequest, console: Console) -> HttpResponse:
    """CSV import: upload, see every bad row (a dry run), then apply all or nothing."""
    context: dict[str, Any] = {"columns": csvio.IMPORT_COLUMNS}
    if request.method != "POST":
        request.session.pop(IMPORT_KEY, None)
        return page(console, "user_import.html", context, section="users")
    step = field(console, "step", 16)
    if step == "check":
        upload = request.FILES.get("file")
        if upload is None or upload.size is None or upload.size > MAX_IMPORT_BYTES:
            error = ImportInvalid(
                "choose a CSV file of at most 400 KiB (import larger files with "
                "'sekisho user import')"
            )
            return page(console, "user_import.html", context, section="users", error=error)
        data = upload.read(MAX_IMPORT_BYTES + 1)
        name = str(upload.name or "")[:128]
        request.session[IMPORT_KEY] = {"csv": base64.b64encode(data).decode(), "name": name}
    else:
        kept = _kept(request)
        if kept is None:
            return redirect("/admin/users/import")
        data, name = kept
    apply = step == "apply"
    try:
        report = csvio.import_users(
            data,
            dry_run=not apply,
            skip_bad=apply and request.POST.get("skip_bad") == "on",
            actor=console.actor,
        )
    except SekishoError as exc:
        request.session.pop(IMPORT_KEY, None)
        return page(console, "user_import.html", context, section="users", error=exc)
    if report.applied:
        request.session.pop(IMPORT_KEY, None)
    context.update(report=report, file_name=name)
    return page(console, "user_import.html", context, section="users")
