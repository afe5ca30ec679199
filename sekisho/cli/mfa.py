"""`sekisho mfa …` and `sekisho app require-mfa`: the IdP-wide MFA settings and step-up."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from sekisho.errors import ConfigError

_UUID_HEX = set("0123456789abcdef")


def _aaguids(text: str) -> tuple[str, ...]:
    """AAGUIDs separated by commas or spaces, each a UUID; empty text clears the list."""
    found = []
    for part in text.replace(",", " ").split():
        value = part.strip().lower()
        plain = value.replace("-", "")
        if len(plain) != 32 or set(plain) - _UUID_HEX:
            raise ConfigError(
                f"--aaguids expects UUIDs (08987058-cadc-4b81-b6e1-30de50dcbe96), got {part!r}"
            )
        found.append(f"{plain[:8]}-{plain[8:12]}-{plain[12:16]}-{plain[16:20]}-{plain[20:]}")
    return tuple(found)


def _settings_dict() -> dict[str, Any]:
    from sekisho.mfa.services import current_policy

    policy = current_policy()
    return {
        "mode": policy.mode.value,
        "without_device": policy.without_device.value,
        "methods": list(policy.methods),
        "trust_days": policy.trust_days,
        "known_networks": [str(net) for net in policy.known_networks],
        "webauthn_user_verification": policy.user_verification,
        "webauthn_aaguids": list(policy.aaguids),
    }


def cmd_configure(args: argparse.Namespace, actor: Any) -> int:
    """Change only the settings given; print the result."""
    from sekisho.mfa import methods, services

    given = {
        key: getattr(args, key)
        for key in (
            "mode",
            "without_device",
            "methods",
            "trust_days",
            "known_networks",
            "user_verification",
            "aaguids",
        )
        if getattr(args, key) is not None
    }
    if not given:
        raise ConfigError("nothing to change: give at least one option (see --help)")
    services.configure(
        mode=methods.parse_mfa_mode(args.mode) if args.mode is not None else None,
        without_device=(
            methods.parse_without_device(args.without_device)
            if args.without_device is not None
            else None
        ),
        methods=methods.parse_methods(args.methods) if args.methods is not None else None,
        trust_days=args.trust_days,
        known_networks=(
            methods.parse_networks(args.known_networks) if args.known_networks is not None else None
        ),
        user_verification=args.user_verification,
        aaguids=_aaguids(args.aaguids) if args.aaguids is not None else None,
        actor=actor,
    )
    print(json.dumps(_settings_dict(), indent=2))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Print the MFA settings as JSON."""
    print(json.dumps(_settings_dict(), indent=2))
    return 0


def cmd_require(args: argparse.Namespace, actor: Any) -> int:
    """Make an application require MFA at launch (step-up), or stop requiring it."""
    from sekisho.saml import services as saml

    app = saml.get_app(args.name)
    saml.set_require_mfa(app, not args.off, actor=actor)
    state = "no longer requires" if args.off else "requires"
    print(f"{app.name} {state} MFA at launch")
    return 0


def register(
    sub: Any,
    parser_class: type[argparse.ArgumentParser],
    with_actor: Callable[..., Callable[[argparse.Namespace], int]],
    app: Any,
) -> None:
    """Add `mfa configure|show` and `app require-mfa` to the CLI."""
    mfa = sub.add_parser("mfa", help="the IdP-wide MFA settings").add_subparsers(
        dest="action", metavar="ACTION", parser_class=parser_class
    )
    mfa.required = True
    p = mfa.add_parser(
        "configure",
        help="set when MFA is asked and with which methods (only the options given change)",
    )
    p.add_argument("--mode", metavar="context-aware|always|disabled")
    p.add_argument("--without-device", metavar="require-registration|block|allow")
    p.add_argument("--methods", metavar="webauthn,totp,radius", help="methods people may use")
    p.add_argument("--trust-days", type=int, metavar="N", help="how long a trusted browser lasts")
    p.add_argument(
        "--known-networks", metavar="CIDR,...", help="networks context-aware mode treats as known"
    )
    p.add_argument("--user-verification", choices=["preferred", "required"], help="WebAuthn UV")
    p.add_argument(
        "--aaguids", metavar="UUID,...", help="WebAuthn authenticators allowed (empty: any)"
    )
    p.set_defaults(func=with_actor(cmd_configure))
    p = mfa.add_parser("show", help="print the MFA settings as JSON")
    p.set_defaults(func=cmd_show)

    p = app.add_parser("require-mfa", help="require MFA in the session to launch an application")
    p.add_argument("name")
    p.add_argument("--off", action="store_true", help="stop requiring it")
    p.set_defaults(func=with_actor(cmd_require))
