"""IdP-wide settings an administrator changes: MFA (mode, methods, …) and the time zone."""

from __future__ import annotations

import re
from typing import Any

from sekisho.audit.writer import Actor
from sekisho.clock import SYSTEM_CLOCK, Clock
from sekisho.directory import services as directory
from sekisho.errors import ConfigError
from sekisho.mfa import methods as mfa_methods
from sekisho.mfa import services as mfa

_UUID_HEX = set("0123456789abcdef")
MAX_KNOWN_NETWORKS = 100
MAX_AAGUIDS = 100


def parse_aaguids(text: str) -> tuple[str, ...]:
    """AAGUIDs separated by commas or spaces, each a UUID; empty text clears the list."""
    found = []
    for part in re.split(r"[\s,]+", text.strip()):
        if not part:
            continue
        value = part.lower()
        plain = value.replace("-", "")
        if len(plain) != 32 or set(plain) - _UUID_HEX:
            raise ConfigError(
                f"--aaguids expects UUIDs (08987058-cadc-4b81-b6e1-30de50dcbe96), got {part[:60]!r}"
            )
        found.append(f"{plain[:8]}-{plain[8:12]}-{plain[12:16]}-{plain[16:20]}-{plain[20:]}")
    if len(found) > MAX_AAGUIDS:
        raise ConfigError(f"at most {MAX_AAGUIDS} AAGUIDs, got {len(found)}")
    return tuple(found)


def mfa_settings() -> dict[str, Any]:
    """The MFA settings as plain data (`mfa show`, the console, the API)."""
    policy = mfa.current_policy()
    return {
        "mode": policy.mode.value,
        "without_device": policy.without_device.value,
        "methods": list(policy.methods),
        "trust_days": policy.trust_days,
        "known_networks": [str(net) for net in policy.known_networks],
        "webauthn_user_verification": policy.user_verification,
        "webauthn_aaguids": list(policy.aaguids),
    }


def configure_mfa(
    *,
    mode: str | None = None,
    without_device: str | None = None,
    methods: str | None = None,
    trust_days: int | None = None,
    known_networks: str | None = None,
    user_verification: str | None = None,
    aaguids: str | None = None,
    actor: Actor,
    clock: Clock = SYSTEM_CLOCK,
) -> dict[str, Any]:
    """Change only the MFA settings given (text as typed), after parsing every one of them."""
    networks = mfa_methods.parse_networks(known_networks) if known_networks is not None else None
    if networks is not None and len(networks) > MAX_KNOWN_NETWORKS:
        raise ConfigError(f"at most {MAX_KNOWN_NETWORKS} known networks, got {len(networks)}")
    mfa.configure(
        mode=mfa_methods.parse_mfa_mode(mode) if mode is not None else None,
        without_device=(
            mfa_methods.parse_without_device(without_device) if without_device is not None else None
        ),
        methods=mfa_methods.parse_methods(methods) if methods is not None else None,
        trust_days=trust_days,
        known_networks=networks,
        user_verification=user_verification,
        aaguids=parse_aaguids(aaguids) if aaguids is not None else None,
        actor=actor,
        clock=clock,
    )
    return mfa_settings()


def idp_settings() -> dict[str, Any]:
    """The IdP's own settings (the default time zone)."""
    return {"time_zone": directory.idp_time_zone()}


def set_time_zone(zone: str, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> dict[str, Any]:
    """Set the IdP's default time zone (an IANA name such as Asia/Tokyo)."""
    directory.set_idp_time_zone(zone, actor=actor, clock=clock)
    return idp_settings()
