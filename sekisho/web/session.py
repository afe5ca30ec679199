"""The signed-in session every face shares: the completed sign-in and safe redirects.

Sessions live in the database (any worker, any node): what a completed sign-in leaves
in the session is one small dict, read back here and nowhere else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from importlib import import_module
from typing import Any

from django.conf import settings
from django.http import HttpRequest

AUTH_KEY = "auth"
# When the person last typed their password again (``time.time()``): sensitive changes
# (their own devices, an administrator's role grants, policies, keys) need it recent.
REAUTH_KEY = "reauth_at"
# How recent: GitHub's "sudo mode" window.
REAUTH_SECONDS = 10 * 60


@dataclass
class AuthState:
    """A completed sign-in: when, with which factors, and the portal session's public id."""

    user_id: int
    auth_time: float
    methods: list[str]
    mfa: bool
    session_id: str
    session_index: str


def get_auth(request: HttpRequest) -> AuthState | None:
    """The completed sign-in of this session, if it matches the signed-in user."""
    raw: Any = request.session.get(AUTH_KEY)
    if not isinstance(raw, dict) or not request.user.is_authenticated:
        return None
    try:
        auth = AuthState(**raw)
    except TypeError:
        return None
    if auth.user_id != request.user.pk:
        return None
    return auth


def put_auth(request: HttpRequest, auth: AuthState, *, touch: bool = True) -> None:
    """Store the completed sign-in (``touch`` restarts the idle timer from auth_time)."""
    request.session[AUTH_KEY] = asdict(auth)
    if touch:
        request.session["last_seen"] = auth.auth_time


def safe_next(raw: str | None, default: str = "/apps") -> str:
    """A local path to continue to; anything else (other hosts, schemes, //) gives the default."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return default
    if any(ord(ch) < 0x20 for ch in raw):
        return default
    return raw


def end_session(session_key: str) -> None:
    """End a stored session by its key, from any node (single logout without the cookie).

    A front-channel LogoutRequest POSTed from another site arrives without the
    ``SameSite=Lax`` session cookie, so the session is found through the key the SSO
    recorded and deleted where it is stored.
    """
    if not session_key:
        return
    engine = import_module(settings.SESSION_ENGINE)
    engine.SessionStore(session_key=session_key).delete()


def mark_reauthenticated(request: HttpRequest, now: float) -> None:
    """Record that the person just typed their password again."""
    request.session[REAUTH_KEY] = now


def reauth_age(request: HttpRequest, now: float) -> float | None:
    """Seconds since the person last typed their password again in this session, or None."""
    stamp = request.session.get(REAUTH_KEY)
    if not isinstance(stamp, int | float) or isinstance(stamp, bool):
        return None
    return max(0.0, now - float(stamp))
