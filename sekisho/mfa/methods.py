"""The MFA method interface and registry, and the pure decisions of the MFA modes."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any, Protocol, assert_never

from sekisho.clock import SYSTEM_CLOCK, SYSTEM_RANDOM, Clock, Random
from sekisho.errors import ConfigError

if TYPE_CHECKING:
    from sekisho.audit.writer import RequestContext
    from sekisho.directory.known_devices import KnownBrowser
from sekisho.directory.models import User


@dataclass(frozen=True)
class MfaContext:
    """Who asks, from where, when: everything a method needs, injected (no HTTP inside)."""

    request: RequestContext
    workflow_id: str
    # The public origin (scheme://host[:port]) and WebAuthn RP ID, from SEKISHO_BASE_URL.
    origin: str = "http://localhost:8000"
    rp_id: str = "localhost"
    clock: Clock = SYSTEM_CLOCK
    random: Random = SYSTEM_RANDOM
    # The users this browser completed a sign-in for: wrong answers from a known browser
    # count on their own, so guessing elsewhere never locks the owner's browser.
    known: KnownBrowser | None = None


@dataclass(frozen=True)
class Device:
    """One registered factor as a user and an admin see it (My security, `user show`)."""

    method: str
    id: str
    name: str
    created_at: datetime | None
    last_used_at: datetime | None
    # A short English description of the kind ("security key, usb"); never a secret.
    detail: str = ""


@dataclass(frozen=True)
class Prompt:
    """What the next page of a method shows, and the state to keep until it is answered.

    ``data`` goes to the page (a QR code, WebAuthn options, a RADIUS server's question);
    ``state`` is JSON-serialisable and stays server-side (the database-backed session)
    until ``finish_*`` receives it back, so no step depends on process memory.
    """

    data: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verified:
    """A factor that was just proven."""

    method: str
    device_id: str
    credential_type: str
    # WebAuthn user verification (PIN or biometric): a passkey is then two factors alone.
    user_verified: bool = False


class MfaMethod(Protocol):
    """The one interface TOTP, WebAuthn, RADIUS and recovery codes implement.

    Like Django's authentication backends: the rest of Sekisho (pages, audit, throttling,
    the modes) calls only these, so a method is added in one module. Every ``finish_*``
    raises an ``MfaError`` on a wrong answer; throttling and audit are done by the caller
    (``sekisho.mfa.services``) for all methods alike.
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
        """Short English label; the web layer translates it by ``name``."""
        ...

    @property
    def max_devices(self) -> int:
        """How many of this method's devices one user may register."""
        ...

    @property
    def user_selectable(self) -> bool:
        """Whether people register it themselves (recovery codes are generated instead)."""
        ...

    def available(self) -> bool:
        """Whether the method can be used now (RADIUS needs a configured server)."""
        ...

    def devices(self, user: User) -> list[Device]:
        """The user's confirmed devices of this method, oldest first."""
        ...

    def begin_enroll(self, user: User, ctx: MfaContext) -> Prompt:
        """Start registering a device: what to show, and the state to keep."""
        ...

    def finish_enroll(
        self,
        user: User,
        ctx: MfaContext,
        *,
        state: Mapping[str, Any],
        form: Mapping[str, str],
        name: str,
    ) -> Device | Prompt:
        """Confirm a registration from the person's answer; a Prompt asks once more."""
        ...

    def begin_verify(self, user: User, ctx: MfaContext) -> Prompt:
        """Start a sign-in check: what to show, and the state to keep."""
        ...

    def finish_verify(
        self,
        user: User,
        ctx: MfaContext,
        *,
        state: Mapping[str, Any],
        form: Mapping[str, str],
    ) -> Verified | Prompt:
        """Check the person's answer; a Prompt asks once more (a RADIUS Access-Challenge)."""
        ...

    def rename(self, user: User, device_id: str, name: str) -> bool:
        """Rename one of the user's devices; returns whether it existed."""
        ...

    def remove(self, user: User, device_id: str) -> bool:
        """Delete one of the user's devices; returns whether it existed."""
        ...

    def remove_all(self, user: User) -> int:
        """Delete every device of this method the user has (admin reset); returns how many."""
        ...


# Filled at import time of each method's module (see sekisho.mfa.apps.MfaConfig.ready).
REGISTRY: dict[str, MfaMethod] = {}

# The order methods are offered in, strongest first, when a person chooses.
METHOD_ORDER: tuple[str, ...] = ("webauthn", "totp", "radius", "recovery")
SELECTABLE_METHODS: tuple[str, ...] = ("webauthn", "totp", "radius")


def register(method: MfaMethod) -> MfaMethod:
    """Add a method to the registry, refusing a second, different method with the same name."""
    existing = REGISTRY.get(method.name)
    if existing is not None and type(existing) is not type(method):
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


def ordered(names: Iterable[str]) -> list[str]:
    """Method names in the order they are offered (strongest first), unknown ones last."""
    rank = {name: i for i, name in enumerate(METHOD_ORDER)}
    return sorted(set(names), key=lambda n: (rank.get(n, len(rank)), n))


class MfaMode(StrEnum):
    """When Sekisho asks for a second factor, as IAM Identity Center names the choices."""

    CONTEXT_AWARE = "context-aware"  # only for a device not trusted or an address not known
    ALWAYS = "always"  # every sign-in; the default
    DISABLED = "disabled"


class WithoutDevice(StrEnum):
    """What happens when MFA is required and the user has no usable device."""

    REQUIRE_REGISTRATION = "require-registration"  # register one now (the default)
    BLOCK = "block"  # refuse the sign-in; an admin must help
    ALLOW = "allow"  # sign in with the password alone


DEFAULT_MODE = MfaMode.ALWAYS


def parse_mfa_mode(text: str) -> MfaMode:
    """Parse a stored or configured mode, or raise ConfigError listing the valid values."""
    try:
        return MfaMode(text.strip().lower())
    except ValueError:
        valid = ", ".join(mode.value for mode in MfaMode)
        raise ConfigError(f"MFA mode must be one of {valid}, got {text!r}") from None


def parse_without_device(text: str) -> WithoutDevice:
    """Parse a without-device choice, or raise ConfigError listing the valid values."""
    try:
        return WithoutDevice(text.strip().lower())
    except ValueError:
        valid = ", ".join(choice.value for choice in WithoutDevice)
        raise ConfigError(f"--without-device must be one of {valid}, got {text!r}") from None


def parse_methods(text: str, *, known: Iterable[str] = SELECTABLE_METHODS) -> tuple[str, ...]:
    """Parse a comma-separated method list (``webauthn,totp``), or raise ConfigError."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    valid = set(known)
    unknown = [name for name in names if name not in valid]
    if unknown or not names:
        raise ConfigError(
            f"--methods must list one or more of {', '.join(ordered(valid))}, got {text!r}"
        )
    return tuple(ordered(names))


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """Parse CIDR blocks separated by commas, spaces or new lines, or raise ConfigError."""
    networks: list[Network] = []
    for part in text.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(f"expected a CIDR block such as 192.0.2.0/24, got {part!r}") from None
    return tuple(networks)


def address_in(address: str, networks: Sequence[Network]) -> bool:
    """Whether an address lies in any of the networks (an unparsable address never does)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


@dataclass(frozen=True)
class MfaPolicy:
    """The IdP-wide MFA settings, parsed (mfa.services reads them from the database)."""

    mode: MfaMode
    without_device: WithoutDevice
    methods: tuple[str, ...]
    trust_days: int
    known_networks: tuple[Network, ...]
    user_verification: str
    aaguids: tuple[str, ...]


@dataclass(frozen=True)
class SignInContext:
    """What context-aware mode looks at: is this browser trusted, is this address known."""

    device_trusted: bool = False
    address_known: bool = False


def mfa_required(mode: MfaMode, context: SignInContext | None = None) -> bool:
    """Whether this sign-in needs a second factor under ``mode`` (pure decision).

    Context-aware asks only when the browser is not a trusted device of this user or the
    source address is new (outside the known networks and every address where the user
    already passed MFA); with no context it asks, failing safe.
    """
    if mode is MfaMode.ALWAYS:
        return True
    if mode is MfaMode.DISABLED:
        return False
    if mode is MfaMode.CONTEXT_AWARE:
        context = context or SignInContext()
        return not (context.device_trusted and context.address_known)
    assert_never(mode)


def skip_reason(mode: MfaMode, context: SignInContext | None = None) -> str:
    """Why a sign-in needed no second factor (for the audit trail), once next_mfa_step said NONE.

    ``MfaDisabled`` (the mode), ``TrustedDevice`` (context-aware: a trusted browser on a
    known address) or ``NoDeviceAllowed`` (no device, and ``--without-device allow``).
    """
    if mode is MfaMode.DISABLED:
        return "MfaDisabled"
    return "NoDeviceAllowed" if mfa_required(mode, context) else "TrustedDevice"


class MfaStep(Enum):
    """What the sign-in flow does after the password."""

    NONE = "none"  # no second factor: sign-in is complete
    CHALLENGE = "challenge"  # ask for a factor from a registered device
    ENROLL = "enroll"  # MFA is required but nothing usable is registered: register now
    BLOCK = "block"  # MFA is required, nothing is registered, and the admin said block


def next_mfa_step(
    mode: MfaMode,
    *,
    confirmed_devices: int,
    context: SignInContext | None = None,
    without_device: WithoutDevice = WithoutDevice.REQUIRE_REGISTRATION,
) -> MfaStep:
    """Decide the step after a correct password; ENROLL sets DeviceEnrollmentRequired in audit."""
    if confirmed_devices < 0:
        raise ValueError(f"confirmed_devices must be >= 0, got {confirmed_devices}")
    if not mfa_required(mode, context):
        return MfaStep.NONE
    if confirmed_devices > 0:
        return MfaStep.CHALLENGE
    if without_device is WithoutDevice.REQUIRE_REGISTRATION:
        return MfaStep.ENROLL
    if without_device is WithoutDevice.BLOCK:
        return MfaStep.BLOCK
    if without_device is WithoutDevice.ALLOW:
        return MfaStep.NONE
    assert_never(without_device)
