"""A launch's outcome as HTTP: the auto-submitting HTTP-POST binding form, or a refusal page."""

from __future__ import annotations

from typing import Protocol

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from sekisho.web.errors import error_page
from sekisho.web.middleware import source_ip


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


def render_outcome(request: HttpRequest, outcome: PostOutcome) -> HttpResponse:
    """The auto-submitting POST form (saml-bindings §3.5.4), or a clear refusal page."""
    if not outcome.allowed:
        detail = None
        if outcome.refusal == "launch_denied":
            # The person sees where they are; the policy's reasoning goes to the audit log.
            detail = _("Your address: %(address)s") % {"address": source_ip(request)}
        return error_page(request, status=403, code=outcome.refusal or "forbidden", detail=detail)
    response = render(
        request,
        "sekisho/post_binding.html",
        {
            "acs_url": outcome.acs_url,
            "saml_response": outcome.saml_response,
            "relay_state": outcome.relay_state,
            "app_name": outcome.app_name,
        },
    )
    # The one form on this page posts to the ACS; allow exactly that target.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        f"form-action {outcome.acs_url.split('?')[0]}; frame-ancestors 'none'; "
        "base-uri 'none'; object-src 'none'"
    )
    return response
