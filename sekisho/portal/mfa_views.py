"""The MFA steps of sign-in and step-up, one set of pages for every method."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from sekisho.clock import SYSTEM_RANDOM
from sekisho.directory.models import User
from sekisho.mfa import errors as mfa_errors
from sekisho.mfa import services as mfa
from sekisho.mfa.methods import (
    Device,
    MfaContext,
    MfaMethod,
    MfaMode,
    Prompt,
    Verified,
    WithoutDevice,
)
from sekisho.portal.session import SignInFlow, get_flow, put_flow
from sekisho.portal.views import complete_sign_in, mfa_context, mfa_passed
from sekisho.web.errors import error_page
from sekisho.web.session import get_auth, safe_next

STATE_KEY = "mfa_state"
# The largest answer any method reads: a WebAuthn credential's JSON.
MAX_ANSWER = 64 * 1024
MAX_CODE = 256

METHOD_LABELS = {
    "webauthn": gettext_lazy("Security key or passkey"),
    "totp": gettext_lazy("Authenticator app"),
    "radius": gettext_lazy("RADIUS one-time password"),
    "recovery": gettext_lazy("Recovery code"),
}
METHOD_HINTS = {
    "webauthn": gettext_lazy(
        "Touch ID, Windows Hello, a phone's passkey, or a USB or NFC security key."
    ),
    "totp": gettext_lazy(
        "A 6-digit code from an app such as Google Authenticator or Microsoft Authenticator."
    ),
    "radius": gettext_lazy("A one-time password checked by your organisation's RADIUS server."),
    "recovery": gettext_lazy("One of the single-use codes you saved when you registered."),
}


def label(name: str) -> str:
    """A method's name in the person's language."""
    return str(METHOD_LABELS.get(name, name))


def error_message(exc: mfa_errors.MfaError) -> str:
    """The person-facing message of an MFA error, in their language."""
    messages: dict[type[mfa_errors.MfaError], Any] = {
        mfa_errors.MalformedCode: _("Enter the 6 digits shown in your authenticator app."),
        mfa_errors.ReusedCode: _(
            "This code was already used. Wait for the next code and try again."
        ),
        mfa_errors.MfaLocked: _("Too many wrong codes. Wait a few minutes and try again."),
        mfa_errors.TooManyDevices: _("You already have the maximum number of these devices."),
        mfa_errors.EnrollmentExpired: _("The registration expired. Please start again."),
        mfa_errors.MethodNotAllowed: _("Your organisation does not allow this method."),
        mfa_errors.NoDevice: _("You have not registered a device of this kind."),
        mfa_errors.InvalidName: _("Enter a name for the device."),
        mfa_errors.LastDevice: _(
            "You cannot remove your last device while multi-factor authentication is required."
        ),
        mfa_errors.InvalidWebAuthnResponse: _(
            "The security key or passkey could not be verified. Please try again."
        ),
        mfa_errors.UnknownCredential: _("This passkey or security key is not registered."),
        mfa_errors.CloneSuspected: _(
            "This security key could not be trusted: it may have been copied. Use another "
            "method and tell your administrator."
        ),
        mfa_errors.AuthenticatorNotAllowed: _(
            "Your organisation does not allow this kind of security key."
        ),
        mfa_errors.RadiusRejected: _("The one-time password was not accepted."),
        mfa_errors.RadiusInvalidInput: _(
            "Enter your one-time password. It can be at most 128 bytes long and cannot "
            "contain control characters."
        ),
        mfa_errors.RadiusBadAuthenticator: _(
            "The RADIUS server's answer could not be verified. Try again in a moment, or use "
            "another method. If this keeps happening, tell your administrator."
        ),
        mfa_errors.RadiusUnavailable: _(
            "The RADIUS server did not answer. Try again in a moment, or use another method."
        ),
        mfa_errors.RecoveryCodeInvalid: _("This recovery code is not valid or was already used."),
    }
    for kind in type(exc).__mro__:
        if kind in messages:
            return str(messages[kind])
    return _("The code is incorrect. Check the time on your phone and try again.")


def error_status(exc: mfa_errors.MfaError, kind: str = "enroll") -> int:
    """The HTTP status of an MFA error page (a wrong answer at sign-in is 401)."""
    if isinstance(exc, mfa_errors.MfaLocked):
        return 429
    if isinstance(exc, mfa_errors.RadiusUnavailable):
        return 503
    if isinstance(exc, mfa_errors.MethodNotAllowed | mfa_errors.NoDevice):
        return 403
    return 401 if kind == "verify" else 400


def answer(request: HttpRequest) -> dict[str, str]:
    """The posted answer fields a method reads, each bounded in size."""
    form = {"code": request.POST.get("code", "")[:MAX_CODE]}
    credential = request.POST.get("credential")
    if credential is not None:
        form["credential"] = credential[: MAX_ANSWER + 1]
    return form


def keep_state(request: HttpRequest, purpose: str, method: str, prompt: Prompt) -> None:
    """Keep a prompt's state server-side (the database-backed session) until it is answered.

    One slot per purpose and method, so looking at another method's page (another tab,
    "Use another method") does not void the one the person is answering.
    """
    kept = request.session.get(STATE_KEY)
    slots = dict(kept) if isinstance(kept, dict) else {}
    slots[f"{purpose}:{method}"] = prompt.state
    request.session[STATE_KEY] = slots


def take_state(request: HttpRequest, purpose: str, method: str) -> Mapping[str, Any]:
    """The kept state for this step, removed so that it answers exactly once."""
    kept = request.session.get(STATE_KEY)
    if not isinstance(kept, dict):
        return {}
    slots = dict(kept)
    state = slots.pop(f"{purpose}:{method}", None)
    request.session[STATE_KEY] = slots
    return state if isinstance(state, dict) else {}


def method_page(
    request: HttpRequest,
    *,
    method: str,
    kind: str,
    prompt: Prompt | None,
    action: str,
    error: str | None = None,
    status: int = 200,
    required: bool = False,
    others: list[tuple[str, str, str]] | None = None,
    trust_offer: bool = False,
) -> HttpResponse:
    """Render ``sekisho/mfa/<method>_<kind>.html`` (kind: verify or enroll)."""
    return render(
        request,
        f"sekisho/mfa/{method}_{kind}.html",
        {
            "prompt": prompt.data if prompt is not None else {},
            "ready": prompt is not None,
            "action": action,
            "error": error,
            "required": required,
            "others": others or [],
            "trust_offer": trust_offer,
            "device_name": request.POST.get("device_name", "")[:64],
            "method_label": label(method),
        },
        status=status,
    )


def begin(
    request: HttpRequest, purpose: str, user: User, method: str, ctx: MfaContext
) -> tuple[Prompt | None, mfa_errors.MfaError | None]:
    """Start a step (verify or enroll) and keep its state; an error instead when refused."""
    try:
        if purpose == "verify":
            prompt = mfa.begin_verify(user, method, ctx)
        else:
            prompt = mfa.begin_enroll(user, method, ctx)
    except mfa_errors.MfaError as exc:
        return None, exc
    keep_state(request, purpose, method, prompt)
    return prompt, None


def _flow_user(request: HttpRequest) -> tuple[SignInFlow, User] | None:
    """The sign-in (or step-up) in progress that still needs a second factor."""
    flow = get_flow(request)
    if flow is None or not flow.factors or mfa_passed(flow):
        return None
    user = User.objects.filter(pk=flow.user_id).first()
    if user is None or not user.is_active:
        return None
    if flow.step_up:
        auth = get_auth(request)
        if auth is None or auth.user_id != user.pk:
            return None
    return flow, user


def _start_step_up(request: HttpRequest) -> tuple[SignInFlow, User] | None:
    """A signed-in session without MFA asks for it now (an application requires MFA)."""
    auth = get_auth(request)
    user = request.user
    if auth is None or auth.mfa or not isinstance(user, User):
        return None
    flow = SignInFlow(
        user_id=user.pk,
        workflow_id=SYSTEM_RANDOM.uuid(),
        next_url=safe_next(request.GET.get("next")),
        factors=list(auth.methods) or ["PASSWORD"],
        step_up=True,
    )
    put_flow(request, flow)
    return flow, user


def _verify_methods(user: User) -> list[MfaMethod]:
    """The methods this person can answer with now: usable devices, then recovery codes."""
    found = mfa.usable_methods(user)
    recovery = mfa.recovery_method()
    if found and recovery is not None and recovery.devices(user):
        found.append(recovery)
    return found


def _others(methods: list[MfaMethod], current: str, prefix: str) -> list[tuple[str, str, str]]:
    return [(m.name, label(m.name), f"{prefix}/{m.name}") for m in methods if m.name != current]


def _trust_offer() -> bool:
    return mfa.current_policy().mode is MfaMode.CONTEXT_AWARE


@require_http_methods(["GET", "HEAD"])
def verify_start(request: HttpRequest) -> HttpResponse:
    """The second step of sign-in: go to the strongest method the person has."""
    found = _flow_user(request)
    if found is None:
        auth = get_auth(request)
        if auth is not None and auth.mfa:
            return redirect(safe_next(request.GET.get("next")))
        found = _start_step_up(request)
        if found is None:
            return redirect("/signin")
    flow, user = found
    methods = _verify_methods(user)
    if not methods:
        if not flow.step_up and mfa.current_policy().without_device is WithoutDevice.BLOCK:
            return error_page(request, status=403, code="mfa_no_device")
        flow.enrollment_required = True
        put_flow(request, flow)
        return redirect("/signin/mfa/register")
    return redirect(f"/signin/mfa/{methods[0].name}")


@require_http_methods(["GET", "HEAD", "POST"])
def verify(request: HttpRequest, method: str) -> HttpResponse:
    """Ask for and check one factor of the chosen method."""
    found = _flow_user(request)
    if found is None:
        return redirect("/signin")
    flow, user = found
    methods = _verify_methods(user)
    if method not in {m.name for m in methods}:
        return redirect("/signin/mfa")
    ctx = mfa_context(request, flow.workflow_id)
    page: dict[str, Any] = {
        "method": method,
        "kind": "verify",
        "action": f"/signin/mfa/{method}",
        "others": _others(methods, method, "/signin/mfa"),
        "trust_offer": _trust_offer(),
    }
    outcome = method_step(request, user, method, ctx, page)
    if isinstance(outcome, HttpResponse):
        return outcome
    assert isinstance(outcome, Verified)
    return _factor_passed(request, user, flow, outcome)


def _factor_passed(
    request: HttpRequest, user: User, flow: SignInFlow, verified: Verified
) -> HttpResponse:
    flow.factors.append(verified.credential_type)
    flow.trust_device = request.POST.get("trust_device") == "on"
    return complete_sign_in(request, user, flow)


@require_http_methods(["GET", "HEAD"])
def register_start(request: HttpRequest) -> HttpResponse:
    """First sign-in without a device: choose which kind to register."""
    found = _flow_user(request)
    if found is None:
        return redirect("/signin")
    _flow, user = found
    if mfa.usable_methods(user):
        return redirect("/signin/mfa")
    methods = mfa.allowed_methods()
    if len(methods) == 1:
        return redirect(f"/signin/mfa/register/{methods[0].name}")
    return render(
        request,
        "sekisho/mfa/choose.html",
        {
            "choices": [
                (
                    m.name,
                    label(m.name),
                    METHOD_HINTS.get(m.name, ""),
                    f"/signin/mfa/register/{m.name}",
                )
                for m in methods
            ],
            "required": True,
        },
    )


@require_http_methods(["GET", "HEAD", "POST"])
def register(request: HttpRequest, method: str) -> HttpResponse:
    """First sign-in: register a device of the chosen kind; it is the second factor."""
    found = _flow_user(request)
    if found is None:
        return redirect("/signin")
    flow, user = found
    if mfa.usable_methods(user):
        # Someone holding only the password must not add a device of their own.
        return redirect("/signin/mfa")
    allowed = mfa.allowed_methods()
    if method not in {m.name for m in allowed}:
        return redirect("/signin/mfa/register")
    ctx = mfa_context(request, flow.workflow_id)
    page: dict[str, Any] = {
        "method": method,
        "kind": "enroll",
        "action": f"/signin/mfa/register/{method}",
        "required": True,
        "others": _others(allowed, method, "/signin/mfa/register"),
        "trust_offer": _trust_offer(),
    }
    outcome = method_step(request, user, method, ctx, page)
    if isinstance(outcome, HttpResponse):
        return outcome
    flow.factors.append(mfa.credential_type_of(method))
    flow.trust_device = request.POST.get("trust_device") == "on"
    put_flow(request, flow)
    codes = recovery_codes_page(request, user, ctx, continue_to="/signin/continue", post=True)
    return codes if codes is not None else complete_sign_in(request, user, flow)


def method_step(
    request: HttpRequest, user: User, method: str, ctx: MfaContext, page: dict[str, Any]
) -> HttpResponse | Verified | Device:
    """One step of a method's page (``page["kind"]``: verify or enroll), for every method.

    GET starts the step and keeps its state; POST answers it once. A wrong answer shows
    the page again with a fresh start (unless locked); a further question (a RADIUS
    challenge) keeps its state for the next answer; success returns what was proven.
    """
    purpose = page["kind"]
    if request.method != "POST":
        prompt, refused = begin(request, purpose, user, method, ctx)
        if refused is not None:
            return method_page(
                request,
                prompt=None,
                error=error_message(refused),
                status=error_status(refused, purpose),
                **page,
            )
        return method_page(request, prompt=prompt, **page)
    state = take_state(request, purpose, method)
    try:
        if purpose == "verify":
            result: Verified | Device | Prompt = mfa.finish_verify(
                user, method, ctx, state=state, form=answer(request)
            )
        else:
            result = mfa.finish_enroll(
                user,
                method,
                ctx,
                state=state,
                form=answer(request),
                name=request.POST.get("device_name", ""),
            )
    except mfa_errors.MfaError as exc:
        prompt, _refused = (
            (None, None)
            if isinstance(exc, mfa_errors.MfaLocked)
            else begin(request, purpose, user, method, ctx)
        )
        return method_page(
            request,
            prompt=prompt,
            error=error_message(exc),
            status=error_status(exc, purpose),
            **page,
        )
    if isinstance(result, Prompt):
        keep_state(request, purpose, method, result)
        return method_page(request, prompt=result, **page)
    return result


def recovery_codes_page(
    request: HttpRequest,
    user: User,
    ctx: MfaContext,
    *,
    continue_to: str,
    post: bool,
    force: bool = False,
) -> HttpResponse | None:
    """A new set of recovery codes, shown once; None when the user already has codes."""
    recovery = mfa.recovery_method()
    if recovery is None or (recovery.devices(user) and not force):
        return None
    codes = mfa.generate_recovery_codes(user, ctx)
    return render(
        request,
        "sekisho/mfa/recovery_codes.html",
        {"codes": codes, "continue_to": continue_to, "post": post},
    )


@require_POST
def signin_continue(request: HttpRequest) -> HttpResponse:
    """After the recovery codes were shown: finish the sign-in that registered a device."""
    flow = get_flow(request)
    if flow is None or not mfa_passed(flow):
        return redirect("/signin")
    user = User.objects.filter(pk=flow.user_id).first()
    if user is None or not user.is_active:
        return redirect("/signin")
    return complete_sign_in(request, user, flow)
