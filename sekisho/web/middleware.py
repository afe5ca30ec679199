"""Middleware: body size limits, the client's source address, session timeouts, headers."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from sekisho.config import get_config
from sekisho.network import client_ip
from sekisho.web.errors import error_page

Handler = Callable[[HttpRequest], HttpResponse]

# Views read the caller's address from here, never from REMOTE_ADDR or headers directly.
CLIENT_IP_ATTR = "sekisho_client_ip"


def source_ip(request: HttpRequest) -> str:
    """The request's source address as resolved by ClientAddressMiddleware."""
    return str(getattr(request, CLIENT_IP_ATTR, request.META.get("REMOTE_ADDR", "")))


class BodySizeLimitMiddleware:
    """Refuse oversized bodies (413) and bodies that never arrived (408) with a clear page."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.META.get("sekisho.body_timeout"):
            # The server's guard stopped waiting for the body (sekisho/asgi.py).
            with translation.override(translation.get_language_from_request(request)):
                return error_page(request, status=408, code="request_timeout")
        limit = int(settings.SEKISHO_MAX_BODY_BYTES)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > limit:
            # LocaleMiddleware has not run yet: pick the caller's language here.
            with translation.override(translation.get_language_from_request(request)):
                return error_page(request, status=413, code="request_too_large")
        return self.get_response(request)


class ClientAddressMiddleware:
    """Resolve the source IP: X-Forwarded-For only through trusted proxies."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        self.trusted = get_config().trusted_proxies

    def __call__(self, request: HttpRequest) -> HttpResponse:
        setattr(
            request,
            CLIENT_IP_ATTR,
            client_ip(
                peer=request.META.get("REMOTE_ADDR", ""),
                forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR"),
                trusted_proxies=self.trusted,
            ),
        )
        return self.get_response(request)


class SessionTimeoutMiddleware:
    """End signed-in sessions after an idle period and after an absolute lifetime."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = request.session
        now = time.time()
        auth = session.get("auth")
        if isinstance(auth, dict):
            idle = int(settings.SEKISHO_SESSION_IDLE_SECONDS)
            absolute = int(settings.SEKISHO_SESSION_ABSOLUTE_SECONDS)
            started = float(auth.get("auth_time", 0))
            last_seen = float(session.get("last_seen", started))
            if now - last_seen > idle or now - started > absolute:
                logout(request)
                request.session["timed_out"] = True
            else:
                # Write at most once a minute so reads don't turn into DB writes.
                if now - last_seen > 60:
                    session["last_seen"] = now
        return self.get_response(request)


class SecurityHeadersMiddleware:
    """Content-Security-Policy and no-store caching on every Sekisho page."""

    CSP = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self' https: http://localhost:* http://127.0.0.1:*; "
        "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.CSP)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=()")
        return response
