"""Dashboard, MFA settings, RADIUS servers (with a test), signing keys, the audit trail,
sessions, the IdP's settings and API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _

from sekisho.admin import auditlog, dashboard, roles, settings, tokens
from sekisho.admin import radius as admin_radius
from sekisho.admin import users as admin_users
from sekisho.admin.errors import InvalidInput
from sekisho.admin.roles import Permission
from sekisho.console import charts
from sekisho.console.guard import Console, console_page, role_labels
from sekisho.console.views.common import field, page, zones
from sekisho.errors import SekishoError
from sekisho.mfa import radius_admin
from sekisho.mfa.methods import SELECTABLE_METHODS
from sekisho.saml import keyring
from sekisho.saml import services as saml


@console_page(Permission.DASHBOARD_READ)
def dashboard_page(request: HttpRequest, console: Console) -> HttpResponse:
    """The last 24 hours from the audit trail, as charts."""
    figures = dashboard.figures()
    local = timezone.get_current_timezone()
    hours = [
        (h.start.astimezone(local).strftime("%H:%M"), h.success, h.failure) for h in figures.hours
    ]
    refusal_names = {
        "policy": _("Policy"),
        "mfa": _("MFA"),
        "lockout": _("Lockout"),
        "password": _("Password"),
        "other": _("Other"),
    }
    context = {
        "figures": figures,
        "hours_chart": charts.hourly_bars(
            hours,
            title=_("Sign-ins per hour, last 24 hours"),
            ok_label=_("completed"),
            bad_label=_("refused"),
        ),
        "refusals_chart": charts.horizontal_bars(
            [(refusal_names.get(name, name), count, 0) for name, count in figures.refusals],
            title=_("Refusals by reason"),
            chart_id="chart-refusals",
        ),
        "sources_chart": charts.horizontal_bars(
            [(ip, count, 0) for ip, count in figures.sources],
            title=_("Top source addresses (password attempts)"),
            chart_id="chart-sources",
        ),
        "launches_chart": charts.horizontal_bars(
            figures.launches,
            title=_("Launches per application (issued / refused)"),
            chart_id="chart-launches",
            second=True,
        ),
    }
    return page(console, "dashboard.html", context, section="dashboard")


# ------------------------------------------------------------------ MFA settings


@console_page(Permission.MFA_READ)
def mfa_page(request: HttpRequest, console: Console) -> HttpResponse:
    """The IdP-wide MFA settings."""
    current = settings.mfa_settings()
    context: dict[str, Any] = {"mfa": current, "all_methods": SELECTABLE_METHODS}
    if request.method != "POST":
        return page(console, "mfa.html", context, section="mfa")
    refused = console.check(Permission.MFA_WRITE)
    if refused is not None:
        return refused
    try:
        trust_days = field(console, "trust_days", 8).strip()
        if not trust_days.isdigit():
            raise InvalidInput("trust days must be a whole number", field="trust_days")
        settings.configure_mfa(
            mode=field(console, "mode", 32),
            without_device=field(console, "without_device", 32),
            methods=",".join(m[:16] for m in request.POST.getlist("methods")[:5]),
            trust_days=int(trust_days),
            known_networks=field(console, "known_networks", 4000),
            user_verification=field(console, "user_verification", 16),
            aaguids=field(console, "aaguids", 4000),
            actor=console.actor,
        )
    except SekishoError as exc:
        return page(console, "mfa.html", context, section="mfa", error=exc)
    console.notice(_("The MFA settings were saved."))
    return redirect("/admin/mfa")


# ------------------------------------------------------------------ RADIUS


RADIUS_ACTIONS = {
    "add": Permission.RADIUS_WRITE,
    "remove": Permission.RADIUS_WRITE,
    "test": Permission.RADIUS_TEST,
}


@console_page(Permission.RADIUS_READ)
def radius_page(request: HttpRequest, console: Console) -> HttpResponse:
    """RADIUS servers in failover order; add, remove, and send a test Access-Request."""
    context: dict[str, Any] = {"servers": admin_radius.list_servers(), "form": {}}
    if request.method != "POST":
        return page(console, "radius.html", context, section="radius")
    action = field(console, "action", 16)
    permission = RADIUS_ACTIONS.get(action)
    if permission is None:
        return page(console, "radius.html", context, section="radius", status=400)
    refused = console.check(permission)
    if refused is not None:
        return refused
    try:
        if action == "add":
            context["form"] = {
                k: field(console, k, 255) for k in ("name", "host", "port", "timeout", "retries")
            }
            numbers = {}
            for key, kind in (("port", int), ("timeout", float), ("retries", int)):
                try:
                    numbers[key] = kind(context["form"][key].strip())
                except ValueError:
                    raise InvalidInput(f"{key} must be a number", field=key) from None
            radius_admin.add_server(
                context["form"]["name"],
                host=context["form"]["host"].strip(),
                secret=field(console, "secret", 200).encode("utf-8"),
                port=int(numbers["port"]),
                timeout=float(numbers["timeout"]),
                retries=int(numbers["retries"]),
                actor=console.actor,
            )
            console.notice(_("The RADIUS server was added."))
        elif action == "remove":
            admin_radius.get_server(field(console, "name", 64))
            radius_admin.remove_server(field(console, "name", 64), actor=console.actor)
            console.notice(_("The RADIUS server was removed."))
        else:
            context["test_user"] = field(console, "username", 253)
            context["test"] = admin_radius.test_server(
                username=context["test_user"],
                password=field(console, "password", 200),
                server=field(console, "server", 64) or None,
                actor=console.actor,
            )
            return page(console, "radius.html", context, section="radius")
    except SekishoError as exc:
        return page(console, "radius.html", context, section="radius", error=exc)
    return redirect("/admin/radius")


# ------------------------------------------------------------------ signing keys


@console_page(Permission.KEYS_READ)
def keys_page(request: HttpRequest, console: Console) -> HttpResponse:
    """The signing keys: current, the next one published in the metadata, the previous one."""
    context: dict[str, Any] = {
        "keys": keyring.describe(),
        "metadata_url": saml.idp_identity().entity_id,
    }
    if request.method != "POST":
        return page(console, "keys.html", context, section="keys")
    refused = console.check(Permission.KEYS_ROTATE)
    if refused is not None:
        return refused
    try:
        if field(console, "action", 16) == "switch":
            keyring.switch_signing_key(actor=console.actor)
            console.notice(_("The next key signs from now on."))
        else:
            keyring.stage_signing_key(actor=console.actor)
            console.notice(_("The next certificate is published in the metadata."))
    except SekishoError as exc:
        return page(console, "keys.html", context, section="keys", error=exc)
    return redirect("/admin/keys")


# ------------------------------------------------------------------ audit trail


def _local_time(text: str, name: str) -> datetime | None:
    """A datetime-local field (the administrator's zone) as an aware time, or None."""
    value = text.strip()
    if not value:
        return None
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a date and time", field=name) from None
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=timezone.get_current_timezone())


def _audit_filter(request: HttpRequest) -> tuple[auditlog.AuditFilter, dict[str, str]]:
    values = {
        key: request.GET.get(key, "")[:256]
        for key in ("user", "event", "result", "source_ip", "since", "until")
    }
    flt = auditlog.AuditFilter(
        user=values["user"].strip(),
        event=values["event"].strip(),
        result=values["result"] if values["result"] in auditlog.RESULTS else "",
        source_ip=values["source_ip"].strip(),
        since=_local_time(values["since"], "since"),
        until=_local_time(values["until"], "until"),
    ).validate()
    return flt, values


@console_page(Permission.AUDIT_READ)
def audit_page(request: HttpRequest, console: Console) -> HttpResponse:
    """The audit trail, filtered by user, event, result, address and time."""
    context: dict[str, Any] = {"events": auditlog.event_names(), "rows": []}
    try:
        flt, values = _audit_filter(request)
        before_text = request.GET.get("before", "")
        before = int(before_text) if before_text.isdigit() and len(before_text) < 19 else None
        rows, more = auditlog.page(flt, before=before, limit=50)
    except SekishoError as exc:
        context["form"] = {k: request.GET.get(k, "")[:256] for k in ("user", "event", "source_ip")}
        return page(console, "audit.html", context, section="audit", error=exc)
    query = {k: v for k, v in values.items() if v}
    context.update(
        form=values,
        rows=[
            {
                "row": row,
                "actor": auditlog.actor_of(row.record),
                "user": (row.record.get("requestParameters") or {}).get("userName", "")
                if isinstance(row.record.get("requestParameters"), dict)
                else "",
            }
            for row in rows
        ],
        next_link="?" + urlencode({**query, "before": more}) if more else None,
        export_query=urlencode(query),
    )
    return page(console, "audit.html", context, section="audit")


@console_page(Permission.AUDIT_EXPORT)
def audit_export(request: HttpRequest, console: Console) -> HttpResponseBase:
    """The filtered trail as a CloudTrail JSON log file or CSV."""
    try:
        flt, _values = _audit_filter(request)
    except SekishoError as exc:
        return page(console, "audit.html", {"rows": []}, section="audit", error=exc)
    if request.GET.get("format") == "csv":
        response = StreamingHttpResponse(
            auditlog.export_csv(flt), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="sekisho-audit.csv"'
    else:
        response = StreamingHttpResponse(auditlog.export_json(flt), content_type="application/json")
        response["Content-Disposition"] = 'attachment; filename="sekisho-audit.json"'
    return response


# ------------------------------------------------------------------ sessions


@console_page(Permission.SESSIONS_READ)
def sessions_page(request: HttpRequest, console: Console) -> HttpResponse:
    """Every signed-in session; end any of them (on every node)."""
    context: dict[str, Any] = {"sessions": admin_users.active_sessions()}
    if request.method != "POST":
        return page(console, "sessions.html", context, section="sessions")
    refused = console.check(Permission.SESSIONS_REVOKE)
    if refused is not None:
        return refused
    try:
        admin_users.revoke_session(field(console, "session", 64), actor=console.actor)
    except SekishoError as exc:
        return page(console, "sessions.html", context, section="sessions", error=exc)
    console.notice(_("The session was ended."))
    return redirect("/admin/sessions")


# ------------------------------------------------------------------ settings and API tokens


@console_page(Permission.SETTINGS_READ)
def settings_page(request: HttpRequest, console: Console) -> HttpResponse:
    """The IdP's own settings: the time zone pages show times in."""
    context: dict[str, Any] = {"settings": settings.idp_settings(), "zones": zones()}
    if request.method != "POST":
        return page(console, "settings.html", context, section="settings")
    refused = console.check(Permission.SETTINGS_WRITE)
    if refused is not None:
        return refused
    try:
        settings.set_time_zone(field(console, "time_zone", 64), actor=console.actor)
    except SekishoError as exc:
        return page(console, "settings.html", context, section="settings", error=exc)
    console.notice(_("The settings were saved."))
    return redirect("/admin/settings")


@console_page(Permission.TOKENS_READ)
def tokens_page(request: HttpRequest, console: Console) -> HttpResponse:
    """API tokens: list, create (shown once), revoke."""
    context: dict[str, Any] = {
        "tokens": tokens.list_tokens(),
        "roles": [r.value for r in roles.Role],
        "role_labels": role_labels(),
    }
    if request.method != "POST":
        return page(console, "tokens.html", context, section="tokens")
    refused = console.check(Permission.TOKENS_WRITE)
    if refused is not None:
        return refused
    try:
        if field(console, "action", 16) == "revoke":
            tokens.revoke(field(console, "name", 64), actor=console.actor)
            console.notice(_("The token was revoked."))
            return redirect("/admin/tokens")
        days = field(console, "expires_days", 6).strip()
        if days and not days.isdigit():
            raise InvalidInput("expiry must be a number of days", field="expires_days")
        issued = tokens.create(
            field(console, "name", 64),
            roles.parse_role(field(console, "role", 16)),
            expires_days=int(days) if days else None,
            actor=console.actor,
        )
    except SekishoError as exc:
        return page(console, "tokens.html", context, section="tokens", error=exc)
    context.update(tokens=tokens.list_tokens(), issued=issued)
    return page(console, "tokens.html", context, section="tokens")
