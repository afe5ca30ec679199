"""The MFA method protocol and registry, and the IdP-wide MFA mode decision."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Protocol, assert_never

from sekisho.errors import ConfigError


class MfaMethod(Protocol):
    """What every MFA method (TOTP now; WebAuthn and RADIUS later) tells the rest of Sekisho.

    Verification itself is not part of the protocol: each method's inputs differ (a typed
    code, a WebAuthn assertion, a RADIUS exchange), so each has its own keyword-only
    ``verify`` in its module, like Django's authentication backends share only a shape.
    """

    @property
    def name(self) -> str:
        """Stable identifier used in URLs, settings and storage (``"totp"``)."""
        ...

    @property
    def credential_type(self) -> str:
        """The CloudTrail ``CredentialType`` written to audit events (``"TOTP"``)."""
        ...

    @property
    def label(self) -> str:
        """Short English label shown to users; the web layer translates it by ``name``."""
        ...


@dataclass(frozen=True)
class MethodInfo:
    """A plain, immutable MfaMethod description."""

    name: str
    credential_type: str
    label: str


TOTP = MethodInfo(name="totp", credential_type="TOTP", label="Authenticator app")

# Built-in methods; later methods call register() at import time of their module.
REGISTRY: dict[str, MfaMethod] = {TOTP.name: TOTP}


def register(method: MfaMethod) -> MfaMethod:
    """Add a method to the registry, refusing a second method with the same name."""
    existing = REGISTRY.get(method.name)
    if existing is not None and existing != method:
        raise ValueError(f"an MFA method named {method.name!r} is already registered")
    REGISTRY[method.name] = method
    return method


def get_method(name: str) -> MfaMethod:
    """Return the registered method called ``name``, or raise KeyError naming the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"unknown MFA method {name!r}; known: {known}") from None


class MfaMode(StrEnum):
    """When Sekisho asks for a second factor.

    ``CONTEXT_AWARE`` (MFA only when the sign-in context changes, as IAM Identity Center
    offers) arrives in a later issue; until then only these two exist.
    """

    ALWAYS = "always"  # every sign-in; the default
    DISABLED = "disabled"


DEFAULT_MODE = MfaMode.ALWAYS


def parse_mfa_mode(text: str) -> MfaMode:
    """Parse a stored or configured mode, or raise ConfigError listing the valid values."""
    try:
        return MfaMode(text.strip().lower())
    except ValueError:
        valid = ", ".join(mode.value for mode in MfaMode)
        raise ConfigError(f"MFA mode must be one of {valid}, got {text!r}") from None


def mfa_required(mode: MfaMode) -> bool:
    """Whether this sign-in needs a second factor under ``mode`` (pure decision).

    Later modes add keyword-only context (source IP, device) without changing callers.
    """
    if mode is MfaMode.ALWAYS:
        return True
    if mode is MfaMode.DISABLED:
        return False
    assert_never(mode)


class MfaStep(Enum):
    """What the sign-in flow does after the password."""

    NONE = "none"  # no second factor: sign-in is complete
    CHALLENGE = "challenge"  # ask for a code from a registered device
    ENROLL = "enroll"  # MFA is required but nothing is registered: force registration


def next_mfa_step(mode: MfaMode, *, confirmed_devices: int) -> MfaStep:
    """Decide the step after a correct password; ENROLL sets DeviceEnrollmentRequired in audit."""
    if confirmed_devices < 0:
        raise ValueError(f"confirmed_devices must be >= 0, got {confirmed_devices}")
    if not mfa_required(mode):
        return MfaStep.NONE
    return MfaStep.CHALLENGE if confirmed_devices > 0 else MfaStep.ENROLL
