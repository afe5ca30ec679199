"""Errors of the MFA context; the web layer maps each ``code`` to a message and a status."""

from __future__ import annotations

from sekisho.errors import SekishoError


class MfaError(SekishoError):
    """Root of every MFA error."""

    code = "mfa_error"
    default_message = "multi-factor authentication failed"
    # Whether the answer counts towards the lockout: a wrong code does, a RADIUS server
    # that does not answer or an expired registration does not.
    counts_as_failure = True

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
    counts_as_failure = False


class MfaLocked(MfaError):
    """Too many wrong codes for this user; further codes are not checked for a while."""

    code = "mfa_locked"
    default_message = "too many wrong codes; try again later"
    counts_as_failure = False

    def __init__(
        self, message: str | None = None, *, retry_after_seconds: int = 0, code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after_seconds = retry_after_seconds


class MethodNotAllowed(MfaError):
    """The administrator does not allow this method (``sekisho mfa configure --methods``)."""

    code = "mfa_method_not_allowed"
    default_message = "this MFA method is not allowed"
    counts_as_failure = False


class NoDevice(MfaError):
    """The user has no device of this method to verify with."""

    code = "mfa_no_device"
    default_message = "no device of this kind is registered"
    counts_as_failure = False


class InvalidName(MfaError):
    """A device name that is empty once whitespace is removed."""

    code = "mfa_invalid_name"
    default_message = "a device needs a name"
    counts_as_failure = False


class LastDevice(MfaError):
    """Removing this device would leave no way to pass MFA while MFA is required."""

    code = "mfa_last_device"
    default_message = "the last device cannot be removed while MFA is required"
    counts_as_failure = False


class InvalidWebAuthnResponse(MfaError):
    """A WebAuthn response that is malformed or fails its checks (challenge, origin, signature)."""

    code = "mfa_webauthn_invalid"
    default_message = "the security key's answer is not valid"


class UnknownCredential(MfaError):
    """A WebAuthn assertion for a credential that is not registered (to this user)."""

    code = "mfa_webauthn_unknown_credential"
    default_message = "this passkey or security key is not registered"


class CloneSuspected(MfaError):
    """The signature counter did not increase (WebAuthn §6.1.1): possibly a cloned key."""

    code = "mfa_webauthn_sign_count"
    default_message = "this security key reported a signature count that went backwards"


class AuthenticatorNotAllowed(MfaError):
    """The authenticator's AAGUID is not on the administrator's allow-list."""

    code = "mfa_webauthn_aaguid"
    default_message = "this kind of authenticator is not allowed"


class RadiusRejected(MfaError):
    """The RADIUS server answered Access-Reject."""

    code = "mfa_radius_rejected"
    default_message = "the RADIUS server rejected the code"


class RadiusUnavailable(MfaError):
    """No configured RADIUS server answered in time (every server, every retry)."""

    code = "mfa_radius_unavailable"
    default_message = "no RADIUS server answered"
    counts_as_failure = False


class RecoveryCodeInvalid(MfaError):
    """A recovery code that is wrong or was already used."""

    code = "mfa_recovery_code_invalid"
    default_message = "the recovery code is not valid or was already used"


class RadiusBadAuthenticator(RadiusUnavailable):
    """Replies came, but each failed its authenticator check (RFC 2865 §3, RFC 3579 §3.2).

    They were discarded like no reply at all; the distinct code lets the audit trail tell
    a forged reply or a wrong shared secret from a server that is down.
    """

    code = "mfa_radius_bad_authenticator"
    default_message = "a RADIUS reply failed its authenticator check and was discarded"


class RadiusInvalidInput(MfaError):
    """An answer that is not sent at all: empty, over 128 bytes of UTF-8, or unprintable."""

    code = "mfa_radius_invalid_input"
    default_message = "enter the code or password; it cannot contain unprintable characters"
    counts_as_failure = False


class WebAuthnChallengeExpired(InvalidWebAuthnResponse):
    """The WebAuthn challenge is older than its lifetime: start the ceremony again."""

    code = "mfa_webauthn_expired"
    default_message = "the security key prompt expired; try again"
    counts_as_failure = False
