"""Portal pages: sign-in, MFA challenge and registration, My applications, launch, account."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from sekisho.audit import records
from sekisho.audit.writer import RequestContext, emit, identity_store_arn
from sekisho.clock import SYSTEM_RANDOM
from sekisho.directory.models import User
from sekisho.directory.services import applications_for
from sekisho.directory.signin import check_password_sign_in
from sekisho.mfa import errors as mfa_errors
from sekisho.mfa import services as mfa
from sekisho.mfa.methods import MfaMode
from sekisho.policy import idp as policy
from sekisho.portal.session import (
    AuthState,
    SignInFlow,
    clear_flow,
    get_auth,
    get_flow,
    put_auth,
    put_flow,
    safe_next,
)
from sekisho.saml import services as saml
from sekisho.saml.models import Application
from sekisho.saml.views import render_outcome
from sekisho.web.errors import error_page
from sekisho.web.middleware import source_ip

View = Callable[..., HttpResponse]


def request_context(request: HttpRequest) -> RequestContext:
    """Who is asking and from where, for the audit trail."""
    auth = request.session.get("auth")
    session_id = auth.get("session_id") if isinstance(auth, dict) else None
    return RequestContext(
        source_ip=source_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:512],
        session_id=session_id,
        secure_transport=request.is_secure(),
    )


def signin_redirect(request: HttpRequest) -> HttpResponseRedirect:
    """Send the person to the sign-in page, coming back here afterwards."""
    return redirect("/signin?" + urlencode({"next": request.get_full_path()}))


def signed_in_required(view: View) -> View:
    """Only for people who completed every sign-in factor."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if get_auth(request) is None:
            return signin_redirect(request)
        return view(request, *args, **kwargs)

    return wrapper


def _sign_in_allowed(
    request: HttpRequest, user: User, flow: SignInFlow, *, mfa_present: bool
) -> HttpResponse | None:
    """The IdP's sekisho:SignIn decision; None when allowed, else the refusal page."""
    facts = policy.AccessFacts(
        source_ip=source_ip(request),
        now=saml.clock().now(),
        secure_transport=request.is_secure(),
        mfa_present=mfa_present,
        mfa_method=policy.mfa_method(flow.factors),
    )
    decision = policy.authorize(
        policy.SIGN_IN,
        user,
        facts,
        context=request_context(request),
        workflow_id=flow.workflow_id,
    )
    if decision.decision == "Allow":
        return None
    clear_flow(request)
    return error_page(
        request,
        status=403,
        code="signin_denied",
        detail=_("Your address: %(address)s") % {"address": facts.source_ip},
    )


def _complete_sign_in(request: HttpRequest, user: User, flow: SignInFlow) -> HttpResponse:
    """Every factor passed: decide again with them, rotate the session key, continue."""
    refused = _sign_in_allowed(request, user, flow, mfa_present=len(flow.factors) > 1)
    if refused is not None:
        return refused
    context = request_context(request)
    next_url = safe_next(flow.next_url)
    login(request, user, backend="sekisho.directory.backends.DirectoryBackend")
    auth = AuthState(
        user_id=user.pk,
        auth_time=time.time(),
        methods=list(flow.factors),
        mfa=len(flow.factors) > 1,
        session_id=SYSTEM_RANDOM.uuid(),
        session_index=SYSTEM_RANDOM.new_id(),
    )
    put_auth(request, auth)
    clear_flow(request)
    emit(
        records.user_authentication(
            credential_types=list(flow.factors),
            success=True,
            workflow_id=flow.workflow_id,
            user_uid=str(user.uid),
            identity_store_arn=identity_store_arn(),
            session_id=auth.session_id,
            login_to=next_url,
            device_enrollment_required=flow.enrollment_required,
            source_ip=context.source_ip,
            user_agent=context.user_agent,
            now=saml.clock().now(),
        )
    )
    return redirect(next_url)


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    """Home: My applications when signed in, else the sign-in page."""
    return redirect("/apps" if get_auth(request) else "/signin")


@require_http_methods(["GET", "HEAD", "POST"])
def signin(request: HttpRequest) -> HttpResponse:
    """The password step of sign-in."""
    next_url = safe_next(request.POST.get("next") or request.GET.get("next"))
    if request.method != "POST":
        if get_auth(request) is not None:
            return redirect(next_url)
        notice = None
        if request.session.pop("timed_out", False):
            notice = _("Your session has ended. Please sign in again.")
        elif request.GET.get("signed_out"):
            notice = _("You have signed out.")
        return render(
            request, "sekisho/signin.html", {"next": next_url, "notice": notice, "username": ""}
        )
    username = request.POST.get("username", "")
    password = request.POST.get("password", "")
    generic = _("The username or password is incorrect.")
    if not username.strip() or not password or len(username) > 128 or len(password) > 256:
        return render(
            request,
            "sekisho/signin.html",
            {"next": next_url, "error": generic, "username": username[:128]},
            status=400,
        )
    flow = SignInFlow(user_id=0, workflow_id=SYSTEM_RANDOM.uuid(), next_url=next_url)
    decision = check_password_sign_in(
        username=username,
        password=password,
        context=request_context(request),
        workflow_id=flow.workflow_id,
        clock=saml.clock(),
    )
    if not decision.ok or decision.user is None:
        if decision.reason == "locked":
            minutes = max(1, (decision.retry_after_seconds + 59) // 60)
            error = ngettext(
                "Too many failed sign-in attempts. Try again in %(minutes)d minute.",
                "Too many failed sign-in attempts. Try again in %(minutes)d minutes.",
                minutes,
            ) % {"minutes": minutes}
            status = 429
        else:
            error, status = generic, 401
        return render(
            request,
            "sekisho/signin.html",
            {"next": next_url, "error": error, "username": username[:128]},
            status=status,
        )
    user = decision.user
    if get_auth(request) is not None:
        logout(request)
    # A new key before any sign-in state is stored: no session fixation across the flow.
    request.session.cycle_key()
    flow.user_id = user.pk
    flow.factors = ["PASSWORD"]
    # Decided now, for the session this sign-in would create, so nobody registers an MFA
    # device from a refused network; decided again once every factor has passed.
    refused = _sign_in_allowed(request, user, flow, mfa_present=mfa.requires_mfa(user))
    if refused is not None:
        return refused
    if mfa.requires_mfa(user):
        if not mfa.confirmed_devices(user):
            flow.enrollment_required = True
            put_flow(request, flow)
            return redirect("/signin/mfa/register")
        put_flow(request, flow)
        return redirect("/signin/mfa")
    return _complete_sign_in(request, user, flow)


def _flow_user(request: HttpRequest) -> tuple[SignInFlow, User] | None:
    flow = get_flow(request)
    if flow is None or flow.factors != ["PASSWORD"]:
        return None
    user = User.objects.filter(pk=flow.user_id).first()
    if user is None or not user.is_active:
        return None
    return flow, user


def mfa_error_message(exc: mfa_errors.MfaError) -> str:
    """The person-facing message of an MFA error, in their language."""
    if isinstance(exc, mfa_errors.MalformedCode):
        return _("Enter the 6 digits shown in your authenticator app.")
    if isinstance(exc, mfa_errors.ReusedCode):
        return _("This code was already used. Wait for the next code and try again.")
    if isinstance(exc, mfa_errors.MfaLocked):
        return _("Too many wrong codes. Wait a few minutes and try again.")
    if isinstance(exc, mfa_errors.TooManyDevices):
        return _("You already have the maximum of two authenticator apps.")
    if isinstance(exc, mfa_errors.EnrollmentExpired):
        return _("The registration expired. Scan the new QR code and try again.")
    return _("The code is incorrect. Check the time on your phone and try again.")


@require_http_methods(["GET", "HEAD", "POST"])
def mfa_challenge(request: HttpRequest) -> HttpResponse:
    """The TOTP step of sign-in."""
    found = _flow_user(request)
    if found is None:
        return redirect("/signin")
    flow, user = found
    if not mfa.confirmed_devices(user):
        return redirect("/signin/mfa/register")
    if request.method != "POST":
        return render(request, "sekisho/mfa_challenge.html", {})
    try:
        mfa.verify_totp(
            user,
            code=request.POST.get("code", "")[:32],
            context=request_context(request),
            workflow_id=flow.workflow_id,
            clock=saml.clock(),
        )
    except mfa_errors.MfaError as exc:
        return render(
            request, "sekisho/mfa_challenge.html", {"error": mfa_error_message(exc)}, status=401
        )
    flow.factors.append("TOTP")
    return _complete_sign_in(request, user, flow)


def _registration(
    request: HttpRequest, user: User, *, action: str, required: bool
) -> HttpResponse | None:
    """Show the registration page (QR code, key, code form) or confirm it; None once done."""
    error, status = None, 200
    if request.method == "POST":
        problem = _confirm(request, user)
        if problem is None:
            return None
        error, status = mfa_error_message(problem), 400
    enrollment = mfa.start_totp_enrollment(
        user,
        context=request_context(request),
        qr_title=_("QR code to add this account to your authenticator app"),
    )
    request.session["enrollment_device"] = enrollment.device_id
    return render(
        request,
        "sekisho/mfa_register.html",
        {
            "qr_svg": enrollment.qr_svg,
            "secret_grouped": enrollment.secret_grouped,
            "action": action,
            "required": required,
            "error": error,
            "device_name": request.POST.get("device_name", "")[:64],
        },
        status=status,
    )


def _confirm(request: HttpRequest, user: User) -> mfa_errors.MfaError | None:
    device_id = request.session.get("enrollment_device")
    if not isinstance(device_id, int):
        return mfa_errors.EnrollmentExpired("no registration in progress")
    try:
        mfa.confirm_totp_enrollment(
            user,
            device_id=device_id,
            code=request.POST.get("code", "")[:32],
            device_name=request.POST.get("device_name", ""),
            context=request_context(request),
            clock=saml.clock(),
        )
    except mfa_errors.MfaError as exc:
        return exc
    request.session.pop("enrollment_device", None)
    return None


@require_http_methods(["GET", "HEAD", "POST"])
def mfa_register(request: HttpRequest) -> HttpResponse:
    """First sign-in: register an authenticator app (QR code + secret), confirm with a code."""
    found = _flow_user(request)
    if found is None:
        return redirect("/signin")
    flow, user = found
    if mfa.confirmed_devices(user):
        return redirect("/signin/mfa")
    page = _registration(request, user, action="/signin/mfa/register", required=True)
    if page is not None:
        return page
    flow.factors.append("TOTP")
    return _complete_sign_in(request, user, flow)


@require_POST
def signout(request: HttpRequest) -> HttpResponse:
    """End the session everywhere it is stored."""
    auth = get_auth(request)
    user = request.user if request.user.is_authenticated else None
    if auth is not None and isinstance(user, User):
        context = request_context(request)
        emit(
            records.logout(
                user_uid=str(user.uid),
                identity_store_arn=identity_store_arn(),
                session_id=auth.session_id,
                source_ip=context.source_ip,
                user_agent=context.user_agent,
                now=saml.clock().now(),
            )
        )
    logout(request)
    return redirect("/signin?signed_out=1")


@require_safe
@signed_in_required
def apps(request: HttpRequest) -> HttpResponse:
    """My applications: those assigned to the user directly or through a group."""
    user = request.user
    assert isinstance(user, User)
    return render(request, "sekisho/apps.html", {"apps": applications_for(user), "user": user})


@require_POST
@signed_in_required
def launch(request: HttpRequest, name: str) -> HttpResponse:
    """IdP-initiated SSO: decide, then auto-POST a signed Response to the app's ACS."""
    user = request.user
    auth = get_auth(request)
    assert isinstance(user, User) and auth is not None
    app = Application.objects.filter(name=name).first()
    if app is None:
        return error_page(request, status=404, code="not_found")
    outcome = saml.launch(
        app=app, user=user, auth=auth, context=request_context(request), in_response_to=None
    )
    return render_outcome(request, outcome)


@require_http_methods(["GET", "HEAD", "POST"])
@signed_in_required
def account(request: HttpRequest) -> HttpResponse:
    """My account: registered authenticator apps, add one (up to two), remove one."""
    user = request.user
    assert isinstance(user, User)
    notice = None
    if request.method == "POST" and request.POST.get("remove"):
        devices = mfa.confirmed_devices(user)
        try:
            device_id = int(request.POST["remove"])
        except ValueError:
            return error_page(request, status=400, code="bad_request")
        if len(devices) <= 1 and mfa.current_mode() != MfaMode.DISABLED:
            notice = _("You cannot remove your only authenticator app while MFA is required.")
        elif mfa.remove_device(user, device_id, context=request_context(request)):
            notice = _("The authenticator app was removed.")
    devices = mfa.confirmed_devices(user)
    return render(
        request,
        "sekisho/account.html",
        {"devices": devices, "can_add": len(devices) < 2, "notice": notice, "user": user},
    )


@require_http_methods(["GET", "HEAD", "POST"])
@signed_in_required
def account_register(request: HttpRequest) -> HttpResponse:
    """Add another authenticator app (at most two per user)."""
    user = request.user
    assert isinstance(user, User)
    if len(mfa.confirmed_devices(user)) >= 2:
        return redirect("/account")
    page = _registration(request, user, action="/account/mfa/register", required=False)
    if page is not None:
        return page
    return redirect("/account")
