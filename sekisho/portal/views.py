"""Portal pages: sign-in, how it completes, My applications, launch, sign-out."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from sekisho.access import decisions as access
from sekisho.audit import records
from sekisho.audit.writer import emit, identity_store_arn
from sekisho.clock import SYSTEM_RANDOM
from sekisho.config import get_config
from sekisho.crypto import b64url
from sekisho.directory import known_devices
from sekisho.directory.models import User
from sekisho.directory.signin import check_password_sign_in
from sekisho.mfa import services as mfa
from sekisho.mfa import trust
from sekisho.mfa.methods import (
    MfaContext,
    MfaStep,
    Verified,
    next_mfa_step,
    skip_reason,
)
from sekisho.portal import sessions
from sekisho.portal.session import SignInFlow, clear_flow, put_flow
from sekisho.saml import services as saml
from sekisho.saml import slo as saml_slo
from sekisho.saml.assignments import applications_for
from sekisho.web.errors import error_page
from sekisho.web.http import request_context, signed_in_required, step_up_redirect
from sekisho.web.middleware import source_ip
from sekisho.web.outcome import render_outcome
from sekisho.web.session import AuthState, get_auth, put_auth, safe_next


def known_browser(request: HttpRequest) -> known_devices.KnownBrowser:
    """The users this browser completed a sign-in for (its known-browser cookie)."""
    return known_devices.read(request.COOKIES.get(known_devices.COOKIE_NAME))


def mfa_context(request: HttpRequest, workflow_id: str) -> MfaContext:
    """The MFA methods' view of this request; origin and RP ID come from SEKISHO_BASE_URL."""
    config = get_config()
    parts = urlsplit(config.base_url)
    return MfaContext(
        request=request_context(request),
        workflow_id=workflow_id,
        origin=f"{parts.scheme}://{parts.netloc}",
        rp_id=config.host,
        clock=saml.clock(),
        known=known_browser(request),
    )


def _remember_browser(request: HttpRequest, response: HttpResponse, user: User) -> None:
    """After a completed sign-in this browser is known for the user (its own throttle)."""
    known = known_browser(request).remember(
        str(user.uid), lambda: b64url(SYSTEM_RANDOM.token_bytes(16))
    )
    response.set_cookie(
        known_devices.COOKIE_NAME,
        known.cookie_value(),
        max_age=known_devices.MAX_AGE_SECONDS,
        secure=True,
        httponly=True,
        samesite="Lax",
        path="/",
    )


def _sign_in_allowed(
    request: HttpRequest, user: User, flow: SignInFlow, *, mfa_present: bool
) -> HttpResponse | None:
    """The IdP's sekisho:SignIn decision; None when allowed, else the refusal page."""
    facts = access.AccessFacts(
        source_ip=source_ip(request),
        now=saml.clock().now(),
        secure_transport=request.is_secure(),
        mfa_present=mfa_present,
        mfa_method=access.mfa_method(flow.factors),
    )
    decision = access.authorize_sign_in(
        user, facts, context=request_context(request), workflow_id=flow.workflow_id
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


def mfa_passed(flow: SignInFlow) -> bool:
    """Whether the flow's factors amount to MFA: two factors, or a user-verified passkey."""
    return len(flow.factors) > 1 or flow.user_verified


def complete_sign_in(request: HttpRequest, user: User, flow: SignInFlow) -> HttpResponse:
    """Every required factor passed: decide again with them, rotate the session, continue.

    A step-up (MFA added to a signed-in session for an application that requires it)
    keeps the session and its id and only records the new factor.
    """
    mfa_present = mfa_passed(flow)
    refused = _sign_in_allowed(request, user, flow, mfa_present=mfa_present)
    if refused is not None:
        return refused
    if user.must_change_password and not flow.step_up:
        # Every factor passed, but no session exists until the temporary password an
        # administrator set is replaced by one only its owner knows.
        flow.password_change = True
        put_flow(request, flow)
        return redirect("/signin/password")
    context = request_context(request)
    now = saml.clock().now()
    next_url = safe_next(flow.next_url)
    current = get_auth(request)
    if flow.step_up and current is not None and current.user_id == user.pk:
        current.methods = list(dict.fromkeys([*current.methods, *flow.factors]))
        current.mfa = current.mfa or mfa_present
        put_auth(request, current, touch=False)
        sessions.update_mfa(request.session.session_key or "", current.mfa)
        auth = current
    else:
        login(request, user, backend="sekisho.directory.backends.DirectoryBackend")
        auth = AuthState(
            user_id=user.pk,
            auth_time=time.time(),
            methods=list(flow.factors),
            mfa=mfa_present,
            session_id=SYSTEM_RANDOM.uuid(),
            session_index=SYSTEM_RANDOM.new_id(),
        )
        put_auth(request, auth)
        sessions.record(request.session.session_key or "", user, auth, context)
    clear_flow(request)
    if mfa_present:
        trust.remember_address(user, context.source_ip, now=now)
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
            mfa_skipped=flow.mfa_skipped,
            source_ip=context.source_ip,
            user_agent=context.user_agent,
            now=now,
        )
    )
    response = redirect(next_url)
    _remember_browser(request, response, user)
    issued = trust.trust_if_asked(
        user,
        mfa_context(request, flow.workflow_id),
        asked=flow.trust_device,
        mfa_passed=mfa_present,
        policy=mfa.current_policy(),
    )
    if issued is not None:
        response.set_cookie(
            trust.COOKIE_NAME,
            issued.value,
            max_age=issued.max_age,
            secure=True,
            httponly=True,
            samesite="Lax",
            path="/",
        )
    return response


def _fresh_session_key(request: HttpRequest) -> None:
    """A new session key before any sign-in state is stored: no session fixation.

    A browser that sent a session key (perhaps one an attacker planted) gets a new one; a
    browser with none gets a random key when the session is first saved, so no key is
    made (and written) only for login() to replace it at once.
    """
    if request.session.session_key is not None:
        request.session.cycle_key()


def complete_passkey_sign_in(
    request: HttpRequest, user: User, verified: Verified, workflow_id: str
) -> HttpResponse:
    """A passkey signed in without a password: the same decision and completion as any sign-in."""
    if get_auth(request) is not None:
        logout(request)
    _fresh_session_key(request)
    flow = SignInFlow(
        user_id=user.pk,
        workflow_id=workflow_id,
        next_url=safe_next(request.POST.get("next") or request.GET.get("next")),
        factors=[verified.credential_type],
        user_verified=verified.user_verified,
    )
    return complete_sign_in(request, user, flow)


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    """Home: My applications when signed in, else the sign-in page."""
    return redirect("/apps" if get_auth(request) else "/signin")


def _signin_page(
    request: HttpRequest,
    next_url: str,
    *,
    error: str | None = None,
    username: str = "",
    status: int = 200,
    notice: str | None = None,
) -> HttpResponse:
    return render(
        request,
        "sekisho/signin.html",
        {"next": next_url, "error": error, "username": username[:128], "notice": notice},
        status=status,
    )


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
        return _signin_page(request, next_url, notice=notice)
    username = request.POST.get("username", "")
    password = request.POST.get("password", "")
    generic = _("The username or password is incorrect.")
    if not username.strip() or not password or len(username) > 128 or len(password) > 256:
        return _signin_page(request, next_url, error=generic, username=username, status=400)
    flow = SignInFlow(user_id=0, workflow_id=SYSTEM_RANDOM.uuid(), next_url=next_url)
    decision = check_password_sign_in(
        username=username,
        password=password,
        context=request_context(request),
        workflow_id=flow.workflow_id,
        known=known_browser(request),
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
            return _signin_page(request, next_url, error=error, username=username, status=429)
        return _signin_page(request, next_url, error=generic, username=username, status=401)
    user = decision.user
    if get_auth(request) is not None:
        logout(request)
    _fresh_session_key(request)
    flow.user_id = user.pk
    flow.factors = ["PASSWORD"]
    return _after_password(request, user, flow)


def _after_password(request: HttpRequest, user: User, flow: SignInFlow) -> HttpResponse:
    """Decide the second factor by mode and context, then the sign-in policy, then go on."""
    settings = mfa.current_policy()
    now = saml.clock().now()
    context, trusted = trust.sign_in_context(
        user,
        cookie=request.COOKIES.get(trust.COOKIE_NAME),
        address=source_ip(request),
        policy=settings,
        now=now,
    )
    step = next_mfa_step(
        settings.mode,
        confirmed_devices=len(mfa.devices(user, policy=settings)),
        context=context,
        without_device=settings.without_device,
    )
    # Decided now, for the session this sign-in would create, so nobody registers an MFA
    # device from a refused network; decided again once every factor has passed.
    refused = _sign_in_allowed(
        request, user, flow, mfa_present=step in (MfaStep.CHALLENGE, MfaStep.ENROLL)
    )
    if refused is not None:
        return refused
    if step is MfaStep.BLOCK:
        clear_flow(request)
        return error_page(request, status=403, code="mfa_no_device")
    if step is MfaStep.ENROLL:
        flow.enrollment_required = True
        put_flow(request, flow)
        return redirect("/signin/mfa/register")
    if step is MfaStep.CHALLENGE:
        put_flow(request, flow)
        return redirect("/signin/mfa")
    if trusted is not None:
        trust.mark_used(trusted, now=now)
    flow.mfa_skipped = skip_reason(settings.mode, context)
    return complete_sign_in(request, user, flow)


@require_POST
def signout(request: HttpRequest) -> HttpResponse:
    """End the session everywhere it is stored, and at every application that can end it.

    Applications that support single logout are visited in turn (saml-profiles §4.4); the
    last page says which applications could not be signed out of.
    """
    auth = get_auth(request)
    user = request.user if request.user.is_authenticated else None
    operation = None
    if auth is not None and isinstance(user, User):
        operation = saml_slo.begin_portal_logout(
            user=user, portal_session_id=auth.session_id, context=request_context(request)
        )
    sessions.forget(request.session.session_key)
    logout(request)
    if operation is not None:
        return redirect(f"/saml/logout/{operation.token}")
    return redirect("/signin?signed_out=1")


@require_safe
@signed_in_required
def apps(request: HttpRequest) -> HttpResponse:
    """My applications: those assigned to the user directly or through a group."""
    user = request.user
    assert isinstance(user, User)
    return render(request, "sekisho/apps.html", {"apps": applications_for(user), "user": user})


@require_http_methods(["GET", "HEAD", "POST"])
@signed_in_required
def launch(request: HttpRequest, name: str) -> HttpResponse:
    """IdP-initiated SSO: decide, then auto-POST a signed Response to the app's ACS.

    GET (where a step-up returns to) shows a form that posts here, so a launch is always
    a POST with a CSRF token.
    """
    user = request.user
    auth = get_auth(request)
    assert isinstance(user, User) and auth is not None
    app = saml.find_app(name)
    if app is None:
        return error_page(request, status=404, code="not_found")
    if app.require_mfa and not auth.mfa:
        return step_up_redirect(f"/apps/{app.name}/launch")
    if request.method != "POST":
        return render(request, "sekisho/launch.html", {"app": app})
    outcome = saml.launch(
        app=app,
        user=user,
        auth=auth,
        context=request_context(request),
        in_response_to=None,
        session_key=request.session.session_key or "",
    )
    return render_outcome(request, outcome)
