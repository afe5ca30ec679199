"""Request helpers every view shares: who is asking, and where to send them next."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect

from sekisho.audit.writer import RequestContext
from sekisho.web.middleware import source_ip
from sekisho.web.session import AUTH_KEY, get_auth

View = Callable[..., HttpResponse]


def request_context(request: HttpRequest) -> RequestContext:
    """Who is asking and from where, for the audit trail and access decisions."""
    auth = request.session.get(AUTH_KEY)
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


def step_up_redirect(next_url: str) -> HttpResponseRedirect:
    """Ask a signed-in person for MFA now, then continue to ``next_url``."""
    return redirect("/signin/mfa?" + urlencode({"next": next_url}))


def signed_in_required(view: View) -> View:
    """Only for people who completed every sign-in factor."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if get_auth(request) is None:
            return signin_redirect(request)
        return view(request, *args, **kwargs)

    return wrapper
