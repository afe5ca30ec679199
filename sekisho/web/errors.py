"""One place that turns errors into clear pages in the user's language (never a traceback)."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

log = logging.getLogger("sekisho.web")

# Stable error codes → what the person sees. The codes also go to the audit log.
MESSAGES: dict[str, tuple[Promise, Promise]] = {
    "request_too_large": (
        _("Request too large"),
        _("The request is larger than Sekisho accepts. Nothing was processed."),
    ),
    "request_timeout": (
        _("Request timed out"),
        _("The request did not arrive in time. Nothing was processed. Please try again."),
    ),
    "bad_request": (
        _("Bad request"),
        _("The request could not be understood. Please start again from your application."),
    ),
    "csrf": (
        _("Your form expired"),
        _(
            "For your security the form could not be accepted. Go back, reload the page and try "
            "again."
        ),
    ),
    "not_found": (_("Page not found"), _("There is nothing at this address.")),
    "forbidden": (_("Access denied"), _("You are not allowed to do this.")),
    "server_error": (
        _("Something went wrong"),
        _(
            "Sekisho could not complete the request. The administrator can find the details in "
            "the server log."
        ),
    ),
    "saml_malformed": (
        _("Invalid sign-in request"),
        _(
            "The application sent a sign-in request Sekisho cannot read. Please start again from "
            "the application."
        ),
    ),
    "saml_unknown_sp": (
        _("Unknown application"),
        _(
            "The application that sent you here is not registered with Sekisho. Ask your "
            "administrator to add it."
        ),
    ),
    "saml_acs_not_registered": (
        _("Unregistered return address"),
        _(
            "The application asked Sekisho to send you to an address that is not in its "
            "registered metadata. For your safety, nothing was sent."
        ),
    ),
    "saml_signature": (
        _("Unsigned or invalid sign-in request"),
        _(
            "This application must sign its sign-in requests, and this one is missing a valid "
            "signature."
        ),
    ),
    "saml_expired": (
        _("Sign-in request expired"),
        _(
            "The sign-in request is too old or was already used. Please start again from the "
            "application."
        ),
    ),
    "slo_malformed": (
        _("Invalid sign-out request"),
        _(
            "The application sent a sign-out message Sekisho cannot read. Nothing was "
            "changed. Sign out of the application again, or close the browser."
        ),
    ),
    "slo_signature": (
        _("Unsigned or invalid sign-out request"),
        _(
            "This application must sign its sign-out messages, and this one is missing a valid "
            "signature. Nothing was changed."
        ),
    ),
    "slo_metadata_expired": (
        _("Sign-out request not accepted"),
        _(
            "This application's registration in Sekisho has expired, so its sign-out message "
            "cannot be trusted. Nothing was changed. To sign out of Sekisho, use Sign out on "
            "Sekisho's pages, or close the browser."
        ),
    ),
    "slo_expired": (
        _("Sign-out expired"),
        _(
            "This sign-out is finished or took too long. Your Sekisho session has ended; sign "
            "out of any application still open, or close the browser."
        ),
    ),
    "app_not_assigned": (
        _("Application not available"),
        _("This application is not assigned to you. Ask your administrator for access."),
    ),
    "app_cannot_launch": (
        _("Application cannot be opened"),
        _(
            "This application cannot be opened for your account. Your administrator has been told "
            "why in the audit log."
        ),
    ),
    "mfa_required": (
        _("Multi-factor authentication required"),
        _("This application requires multi-factor authentication. Please sign in again."),
    ),
    "mfa_no_device": (
        _("Multi-factor authentication is not set up"),
        _(
            "Your organisation requires multi-factor authentication, and no device is "
            "registered for you. Ask your administrator to help you register one."
        ),
    ),
    "signin_denied": (
        _("Sign-in not allowed"),
        _(
            "Your organisation's access policy does not allow you to sign in from here. "
            "If you think this is wrong, contact your administrator."
        ),
    ),
    "launch_denied": (
        _("Access denied"),
        _(
            "Your organisation's access policy does not allow you to open this application "
            "from here. If you think this is wrong, contact your administrator."
        ),
    ),
    "session_expired": (
        _("Session expired"),
        _("Your session has ended. Please sign in again."),
    ),
}


def error_page(
    request: HttpRequest, *, status: int, code: str, detail: str | Promise | None = None
) -> HttpResponse:
    """Render the error page for a code with an HTTP status."""
    title, message = MESSAGES.get(code, MESSAGES["bad_request"])
    return render(
        request,
        "sekisho/error.html",
        {"title": title, "message": message, "detail": detail, "code": code},
        status=status,
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Django's CSRF failure view: a clear page instead of Django's default."""
    return error_page(request, status=403, code="csrf")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400."""
    return error_page(request, status=400, code="bad_request")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler403."""
    return error_page(request, status=403, code="forbidden")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404."""
    return error_page(request, status=404, code="not_found")


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: still a page in the user's language, never a traceback."""
    return error_page(request, status=500, code="server_error")
