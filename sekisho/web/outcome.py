"""A SAML message's way out as HTTP: the auto-submitting HTTP-POST form, or a refusal page.

Launches (Responses), single logout requests and responses all leave through here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from sekisho.web.errors import error_page
from sekisho.web.middleware import SecurityHeadersMiddleware, source_ip


class PostOutcome(Protocol):
    """What a launch decided: a message to POST to an ACS, or a refusal code."""

    @property
    def allowed(self) -> bool:
        """Whether a message is to be posted."""
        ...

    @property
    def refusal(self) -> str:
        """The stable refusal code (an error page code) when not allowed."""
        ...

    @property
    def app_name(self) -> str:
        """The application's display name."""
        ...

    @property
    def acs_url(self) -> str:
        """Where the form posts."""
        ...

    @property
    def saml_response(self) -> str:
        """The base64 SAMLResponse."""
        ...

    @property
    def relay_state(self) -> str:
        """The RelayState to post along."""
        ...

    @property
    def form_origin(self) -> str:
        """The checked origin of ``acs_url`` (scheme://host[:port]), for the CSP."""
        ...

    @property
    def field(self) -> str:
        """The form field carrying the message: SAMLResponse or SAMLRequest."""
        ...

    @property
    def signing_out(self) -> bool:
        """Whether the message is part of a sign-out (the page says so)."""
        ...


def render_outcome(request: HttpRequest, outcome: PostOutcome) -> HttpResponse:
    """The auto-submitting POST form (saml-bindings §3.5.4), or a clear refusal page."""
    if not outcome.allowed:
        detail = None
        if outcome.refusal == "launch_denied":
            # The person sees where they are; the policy's reasoning goes to the audit log.
            detail = _("Your address: %(address)s") % {"address": source_ip(request)}
        return error_page(request, status=403, code=outcome.refusal or "forbidden", detail=detail)
    origin = outcome.form_origin
    if not _ORIGIN.fullmatch(origin) or outcome.field not in _FIELDS:
        # Only an origin the saml context checked may reach a header; anything else
        # would be a bug, so nothing is sent rather than something unchecked.
        return error_page(request, status=500, code="server_error")
    # Rendered without the request: the page uses no context processor (it has no layout,
    # no language form, no CSRF field), and running them on every launch cost 40 % more.
    html = render_to_string(
        "sekisho/post_binding.html",
        {
            "acs_url": outcome.acs_url,
            "field": outcome.field,
            "saml_response": outcome.saml_response,
            "relay_state": outcome.relay_state,
            "app_name": outcome.app_name,
            "signing_out": outcome.signing_out,
        },
    )
    response = HttpResponse(html)
    # The one form on this page posts to that endpoint's origin, and nowhere else.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        f"form-action {origin}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )
    return response


# scheme://host[:port] as urls.CheckedUrl.origin writes it: no path, no ';', no spaces.
_ORIGIN = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")
_FIELDS = ("SAMLResponse", "SAMLRequest")


# Why an application's session may still be open after single logout.
NOT_ENDED_REASONS: dict[str, Promise] = {
    "no_slo": gettext_lazy("it does not support single sign-out."),
    "failed": gettext_lazy("signing out of it failed."),
    "no_answer": gettext_lazy("it did not confirm that you were signed out."),
    "logout_url": gettext_lazy(
        "it has no single sign-out; Sekisho asked it to end your session, but it cannot "
        "confirm that it did."
    ),
}


def render_signed_out(
    request: HttpRequest,
    *,
    ended: list[str],
    not_ended: list[tuple[str, str]],
    logout_urls: Sequence[str] = (),
) -> HttpResponse:
    """The end of a sign-out: which applications ended their session, and which may not have.

    ``logout_urls`` (checked by the saml context) are the logout endpoints of
    applications without single logout (Amazon Connect's ``/connect/logout``): the page
    requests each one as an image, which sends that site's cookies where the browser
    allows it, so the site can end its session; nothing comes back to confirm it.
    """
    # Only URLs whose origin may reach a header (as the saml context checked them).
    urls = [url for url in logout_urls if _ORIGIN.fullmatch(_origin_of(url))]
    origins = list(dict.fromkeys(_origin_of(url) for url in urls))
    response = render(
        request,
        "sekisho/signed_out.html",
        {
            "ended": ended,
            "not_ended": [
                (name, NOT_ENDED_REASONS.get(code, NOT_ENDED_REASONS["no_answer"]))
                for name, code in not_ended
            ],
            "logout_urls": urls,
        },
    )
    if origins:
        response.headers["Content-Security-Policy"] = SecurityHeadersMiddleware.CSP.replace(
            "img-src 'self' data:;", f"img-src 'self' data: {' '.join(origins)};"
        )
    return response


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
