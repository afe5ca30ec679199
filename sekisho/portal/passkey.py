"""Passkey sign-in without a username: request options, then the signed answer.

Throttled per source address (nobody is named until the answer is checked) and audited
as CredentialVerification; a passed passkey completes sign-in like password and MFA.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from sekisho.clock import SYSTEM_RANDOM
from sekisho.mfa import errors as mfa_errors
from sekisho.mfa import services as mfa
from sekisho.mfa.backends.webauthn import begin_passkey, passkey_scope, sign_in_with_passkey
from sekisho.portal.mfa_views import MAX_ANSWER, error_message
from sekisho.portal.views import complete_passkey_sign_in, mfa_context
from sekisho.web.session import safe_next

STATE_KEY = "passkey_state"


def _message(exc: mfa_errors.MfaError) -> str:
    if isinstance(exc, mfa_errors.MfaLocked):
        return _("Too many failed attempts. Wait a few minutes and try again.")
    return error_message(exc)


def _status(exc: mfa_errors.MfaError) -> int:
    if isinstance(exc, mfa_errors.MfaLocked):
        return 429
    if isinstance(exc, mfa_errors.MethodNotAllowed):
        return 403
    if isinstance(exc, mfa_errors.InvalidWebAuthnResponse):
        return 400
    return 401


@require_safe
def options(request: HttpRequest) -> HttpResponse:
    """WebAuthn request options for any passkey of this site; the challenge stays server-side."""
    workflow_id = SYSTEM_RANDOM.uuid()
    ctx = mfa_context(request, workflow_id)
    try:
        mfa.check_throttle(passkey_scope(ctx), now=ctx.clock.now())
        prompt = begin_passkey(ctx)
    except mfa_errors.MfaError as exc:
        return JsonResponse({"error": _message(exc)}, status=_status(exc))
    request.session[STATE_KEY] = {**prompt.state, "workflow_id": workflow_id}
    return JsonResponse({"options": prompt.data["options"]})


@require_POST
def signin(request: HttpRequest) -> HttpResponse:
    """Check the passkey's answer; on success sign in as its owner."""
    # Taken out at once: the challenge answers exactly one attempt (no replay).
    kept: Any = request.session.pop(STATE_KEY, None)
    state: dict[str, Any] = kept if isinstance(kept, dict) else {}
    workflow_id = state.get("workflow_id")
    if not isinstance(workflow_id, str) or not workflow_id:
        workflow_id = SYSTEM_RANDOM.uuid()
    ctx = mfa_context(request, workflow_id)
    form = {"credential": request.POST.get("credential", "")[: MAX_ANSWER + 1]}
    try:
        user, verified = sign_in_with_passkey(ctx, state=state, form=form)
    except mfa_errors.MfaError as exc:
        return render(
            request,
            "sekisho/signin.html",
            {
                "next": safe_next(request.POST.get("next")),
                "error": _message(exc),
                "username": "",
            },
            status=_status(exc),
        )
    return complete_passkey_sign_in(request, user, verified, workflow_id)
