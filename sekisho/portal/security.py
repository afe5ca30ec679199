"""My security: devices, recovery codes and trusted browsers, after re-authentication."""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from sekisho.audit.records import AdminChannel
from sekisho.audit.writer import Actor
from sekisho.directory.errors import InvalidTimeZone
from sekisho.directory.models import User
from sekisho.directory.rules import time_zones
from sekisho.directory.services import idp_time_zone, update_user
from sekisho.directory.signin import check_password_sign_in
from sekisho.mfa import errors as mfa_errors
from sekisho.mfa import services as mfa
from sekisho.mfa import trust
from sekisho.portal.mfa_views import error_message, label, method_step, recovery_codes_page
from sekisho.portal.timezones import shown_in_zone_of
from sekisho.portal.views import known_browser, mfa_context
from sekisho.saml import services as saml
from sekisho.web.errors import error_page
from sekisho.web.http import request_context, signed_in_required
from sekisho.web.session import (
    REAUTH_SECONDS,
    get_auth,
    mark_reauthenticated,
    reauth_age,
    safe_next,
)

NOTICE_KEY = "security_notice"


def _fresh(request: HttpRequest) -> bool:
    # Changing how one signs in needs a password typed within REAUTH_SECONDS, so a
    # browser left signed in cannot be used to add an attacker's device (sudo mode).
    age = reauth_age(request, time.time())
    return age is not None and age < REAUTH_SECONDS


def _reauth_redirect(request: HttpRequest) -> HttpResponse:
    return redirect("/account/verify?" + urlencode({"next": request.get_full_path()}))


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


@require_http_methods(["GET", "HEAD", "POST"])
@signed_in_required
def reauthenticate(request: HttpRequest) -> HttpResponse:
    """Type the password again before changing devices (throttled and audited like sign-in)."""
    user = _user(request)
    next_url = safe_next(request.POST.get("next") or request.GET.get("next"), "/account")
    admin = next_url.startswith("/admin")
    if request.method != "POST":
        return render(request, "sekisho/reauth.html", {"next": next_url, "admin": admin})
    password = request.POST.get("password", "")
    auth = get_auth(request)
    decision = check_password_sign_in(
        username=user.username,
        password=password[:256],
        context=request_context(request),
        workflow_id=auth.session_id if auth else "",
        known=known_browser(request),
        clock=saml.clock(),
    )
    if not decision.ok or decision.user is None or decision.user.pk != user.pk:
        error = (
            _("Too many failed attempts. Wait a few minutes and try again.")
            if decision.reason == "locked"
            else _("The password is incorrect.")
        )
        status = 429 if decision.reason == "locked" else 401
        return render(
            request,
            "sekisho/reauth.html",
            {"next": next_url, "error": error, "admin": admin},
            status=status,
        )
    mark_reauthenticated(request, time.time())
    return redirect(next_url)


def _page(
    request: HttpRequest,
    user: User,
    *,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> HttpResponse:
    now = saml.clock().now()
    policy = mfa.current_policy()
    devices = mfa.devices(user, usable=False)
    allowed = mfa.allowed_methods(policy)
    counts = {m.name: len([d for d in devices if d.method == m.name]) for m in allowed}
    recovery = mfa.recovery_method()
    current = trust.find(user, request.COOKIES.get(trust.COOKIE_NAME), now=now)
    can_add = [(m.name, label(m.name)) for m in allowed if counts[m.name] < m.max_devices]
    with shown_in_zone_of(user):
        return render(
            request,
            "sekisho/security.html",
            {
                "user": user,
                "devices": [(d, label(d.method)) for d in devices],
                "can_add": can_add,
                "recovery_left": recovery.remaining(user) if recovery is not None else 0,
                "trusted": trust.devices(user, now=now),
                "this_browser": current.public_id if current is not None else None,
                "notice": notice or request.session.pop(NOTICE_KEY, None),
                "error": error,
                "zones": time_zones(),
                "idp_zone": idp_time_zone(),
            },
            status=status,
        )


@require_http_methods(["GET", "HEAD", "POST"])
@signed_in_required
def account(request: HttpRequest) -> HttpResponse:
    """My security: list, rename and remove devices, new recovery codes, trusted browsers."""
    user = _user(request)
    if not _fresh(request):
        return _reauth_redirect(request)
    if request.method != "POST":
        return _page(request, user)
    action = request.POST.get("action", "")
    method = request.POST.get("method", "")[:32]
    device_id = request.POST.get("device", "")[:64]
    ctx = mfa_context(request, "")
    now = saml.clock().now()
    try:
        if action == "rename":
            if not mfa.rename_device(user, method, device_id, request.POST.get("name", "")):
                return error_page(request, status=404, code="not_found")
            return _page(request, user, notice=_("The device was renamed."))
        if action == "remove":
            if not mfa.remove_device(user, method, device_id, ctx):
                return error_page(request, status=404, code="not_found")
            return _page(request, user, notice=_("The device was removed."))
        if action == "recovery":
            page = recovery_codes_page(
                request, user, ctx, continue_to="/account", post=False, force=True
            )
            return page if page is not None else error_page(request, status=404, code="not_found")
        if action == "revoke":
            if not trust.revoke(user, device_id, now=now):
                return error_page(request, status=404, code="not_found")
            return _page(request, user, notice=_("The browser is no longer trusted."))
        if action == "time_zone":
            try:
                update_user(
                    user,
                    time_zone=request.POST.get("time_zone", "")[:64],
                    actor=Actor(
                        name=f"user:{user.username}",
                        context=request_context(request),
                        channel=AdminChannel.WEB,
                    ),
                )
            except InvalidTimeZone:
                error = _("Choose a time zone from the list.")
                return _page(request, user, error=error, status=400)
            return redirect("/account")
    except KeyError:
        return error_page(request, status=400, code="bad_request")
    except mfa_errors.MfaError as exc:
        return _page(request, user, error=error_message(exc), status=400)
    return error_page(request, status=400, code="bad_request")


@require_http_methods(["GET", "HEAD", "POST"])
@signed_in_required
def add_device(request: HttpRequest, method: str) -> HttpResponse:
    """Register another device from My security."""
    user = _user(request)
    if not _fresh(request):
        return _reauth_redirect(request)
    allowed = [m.name for m in mfa.allowed_methods()]
    if method not in allowed:
        return error_page(request, status=404, code="not_found")
    ctx = mfa_context(request, "")
    outcome = method_step(
        request,
        user,
        method,
        ctx,
        {
            "method": method,
            "kind": "enroll",
            "action": f"/account/security/add/{method}",
            "required": False,
            "others": [],
            "trust_offer": False,
        },
    )
    if isinstance(outcome, HttpResponse):
        return outcome
    request.session[NOTICE_KEY] = _("The device was registered.")
    page = recovery_codes_page(request, user, ctx, continue_to="/account", post=False)
    return page if page is not None else redirect("/account")
