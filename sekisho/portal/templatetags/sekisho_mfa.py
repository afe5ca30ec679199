"""Template filters for the MFA pages."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from sekisho.mfa import totp

register = template.Library()


@register.filter
def qr_svg(uri: str) -> SafeString:
    """An otpauth:// URI as an inline SVG QR code with a translated accessible title."""
    # segno escapes the title and emits only SVG elements: safe to inline.
    return mark_safe(  # noqa: S308
        totp.qr_svg(uri, title=_("QR code to add this account to your authenticator app"))
    )


@register.simple_tag
def passkeys_offered() -> bool:
    """Whether the sign-in page offers passkeys: WebAuthn allowed and usable here."""
    from sekisho.mfa import services

    return any(method.name == "webauthn" for method in services.allowed_methods())
