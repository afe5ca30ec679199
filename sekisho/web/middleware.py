"""Middleware: HSTS, the client's address/scheme/host, body size limits, sessions, headers."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from sekisho.config import get_config
from sekisho.memo import request_scope
from sekisho.network import ForwardedHeaders, resolve_forwarding, split_host
from sekisho.web.errors import error_page

Handler = Callable[[HttpRequest], HttpResponse]

# Views read the caller's address from here, never from REMOTE_ADDR or headers directly.
CLIENT_IP_ATTR = "sekisho_client_ip"
# RFC 6797 §6.1.1: one year, the usual floor for browsers' preload lists. No
# includeSubDomains: Sekisho cannot know what else is served under its host name (see
# docs/deploy/README.md).
HSTS_VALUE = "max-age=31536000"
# Forwarding headers, as WSGI names them; removed once read so nothing later can trust them.
_FORWARDING_META = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_FORWARDED",
)


def source_ip(request: HttpRequest) -> str:
    """The request's source address as resolved by ClientAddressMiddleware."""
    return str(getattr(request, CLIENT_IP_ATTR, request.META.get("REMOTE_ADDR", "")))


class RequestMemoMiddleware:
    """One memo per request (sekisho/memo.py): settings rows are read once per request."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with request_scope():
            return self.get_response(request)


def _api_problem(status: int, code: str, title: str, detail: str) -> HttpResponse:
    """An RFC 9457 problem document: the REST API answers every error as one."""
    return HttpResponse(
        json.dumps(
            {
                "type": f"urn:sekisho:problem:{code}",
                "title": title,
                "status": status,
                "detail": detail,
                "code": code,
            }
        ),
        status=status,
        content_type="application/problem+json",
    )


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
            if request.path.startswith("/api/"):
                return _api_problem(
                    413,
                    "request_too_large",
                    "Request too large",
                    f"the request body is larger than {limit} bytes",
                )
            # LocaleMiddleware has not run yet: pick the caller's language here.
            with translation.override(translation.get_language_from_request(request)):
                return error_page(request, status=413, code="request_too_large")
        return self.get_response(request)


_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


class PathCharactersMiddleware:
    """A path with a control character names nothing: the ordinary 404, before any lookup.

    No stored name may hold one, and PostgreSQL refuses a NUL in a query, so without this
    a ``%00`` in ``/api/v1/users/{name}`` (or applications, groups, policies) became a 500.
    One rule for every page and the API; the emulator under /aws answers such paths
    itself, in AWS's error shapes.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        if _CONTROL_CHARACTER.search(path) is None or path.startswith("/aws"):
            return self.get_response(request)
        if path.startswith("/api/"):
            return _api_problem(404, "not_found", "Not found", "not found")
        return error_page(request, status=404, code="not_found")


class StrictTransportSecurityMiddleware:
    """Strict-Transport-Security on every response when the public URL is https.

    Sent whether or not this request reached Sekisho over TLS: behind a proxy Sekisho cannot
    see the client's transport, and a browser ignores the header over plain HTTP anyway
    (RFC 6797 §8.1). Outermost, so static files and early refusals carry it too.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        self.enabled = get_config().secure_transport

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.enabled:
            response.headers["Strict-Transport-Security"] = HSTS_VALUE
        return response


class ClientAddressMiddleware:
    """Resolve the client's address, scheme and host, believing forwarding headers only
    from SEKISHO_TRUSTED_PROXIES (sekisho.network.resolve_forwarding).

    The address goes to ``source_ip(request)``; the scheme to ``wsgi.url_scheme``, so
    ``request.is_secure()`` reflects it; the host replaces ``Host`` after it is checked
    against the public URL's host, so ``request.get_host()`` reflects it. The forwarding
    headers are then removed from the request.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        config = get_config()
        self.trusted = config.trusted_proxies
        self.public_host = config.host.lower()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        received = {name: meta.pop(name, None) for name in _FORWARDING_META}
        text = {name: None if value is None else str(value) for name, value in received.items()}
        forwarding = resolve_forwarding(
            peer=str(meta.get("REMOTE_ADDR", "")),
            headers=ForwardedHeaders(
                x_forwarded_for=text["HTTP_X_FORWARDED_FOR"],
                x_forwarded_proto=text["HTTP_X_FORWARDED_PROTO"],
                x_forwarded_host=text["HTTP_X_FORWARDED_HOST"],
                forwarded=text["HTTP_FORWARDED"],
            ),
            trusted_proxies=self.trusted,
        )
        setattr(request, CLIENT_IP_ATTR, forwarding.client_ip)
        if forwarding.scheme is not None:
            meta["wsgi.url_scheme"] = forwarding.scheme
        if forwarding.host is not None:
            host = split_host(forwarding.host)
            if host is None or host[0] != self.public_host:
                # The proxy passed on a Host that is not ours: refuse, as Django does.
                with translation.override(translation.get_language_from_request(request)):
                    return error_page(request, status=400, code="bad_request")
            meta["HTTP_HOST"] = forwarding.host
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
