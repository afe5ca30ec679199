"""What the portal keeps in the (database-backed) session while a sign-in is in progress."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from django.http import HttpRequest

FLOW_KEY = "signin_flow"
FLOW_TTL_SECONDS = 10 * 60


@dataclass
class SignInFlow:
    """A sign-in in progress: who passed which factors so far, and where they go next."""

    user_id: int
    workflow_id: str
    next_url: str
    factors: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    enrollment_required: bool = False
    # MFA added to a signed-in session (an application requires it); the session stays.
    step_up: bool = False
    # The person ticked "Trust this browser" (context-aware mode).
    trust_device: bool = False
    # A passkey with user verification: one ceremony, two factors (WebAuthn §6.2.3).
    user_verified: bool = False
    # Why no second factor was asked (audit), when none was: see methods.skip_reason.
    mfa_skipped: str | None = None
    # Every factor passed; only replacing a temporary password is left (/signin/password).
    password_change: bool = False


def get_flow(request: HttpRequest) -> SignInFlow | None:
    """The sign-in in progress, unless absent, malformed or older than ten minutes."""
    raw = request.session.get(FLOW_KEY)
    if not isinstance(raw, dict):
        return None
    try:
        flow = SignInFlow(**raw)
    except TypeError:
        return None
    if time.time() - flow.started > FLOW_TTL_SECONDS:
        request.session.pop(FLOW_KEY, None)
        return None
    return flow


def put_flow(request: HttpRequest, flow: SignInFlow) -> None:
    """Store the sign-in in progress."""
    request.session[FLOW_KEY] = asdict(flow)


def clear_flow(request: HttpRequest) -> None:
    """Forget the sign-in in progress."""
    request.session.pop(FLOW_KEY, None)
