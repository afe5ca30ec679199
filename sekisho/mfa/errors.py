"""Errors of the MFA context; the web layer maps each ``code`` to a message and a status."""

from __future__ import annotations

from sekisho.errors import SekishoError


class MfaError(SekishoError):
    """Root of every MFA error."""

    code = "mfa_error"
    default_message = "multi-factor authentication failed"

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        super().__init__(message if message is not None else self.default_message, code=code)


class InvalidCode(MfaError):
    """The code does not match; deliberately generic so it reveals nothing about why."""

    code = "mfa_invalid_code"
    default_message = "the code is not valid"


class ReusedCode(MfaError):
    """The code's time step was already accepted once (RFC 6238 §5.2: one use per step)."""

    code = "mfa_reused_code"
    default_message = "this code was already used; wait for the next one"


class MalformedCode(MfaError):
    """The input is not a 6-digit code once spaces, hyphens and full-width digits are handled."""

    code = "mfa_malformed_code"
    default_message = "enter the 6-digit code shown by your authenticator app"


class TooManyDevices(MfaError):
    """The user already has the maximum number of confirmed devices of this method."""

    code = "mfa_too_many_devices"
    default_message = "the maximum number of authenticator apps is already registered"


class EnrollmentExpired(MfaError):
    """A pending registration was not confirmed in time; it must start again with a new secret."""

    code = "mfa_enrollment_expired"
    default_message = "the registration took too long; start again"


class MfaLocked(MfaError):
    """Too many wrong codes for this user; further codes are not checked for a while."""

    code = "mfa_locked"
    default_message = "too many wrong codes; try again later"

    def __init__(
        self, message: str | None = None, *, retry_after_seconds: int = 0, code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after_seconds = retry_after_seconds
