"""`sekisho mfa …` and `sekisho app require-mfa`: the IdP-wide MFA settings and step-up."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from sekisho.errors import ConfigError


def _settings_dict() -> dict[str, Any]:
    from sekisho.admin.settings import mfa_settings

    return mfa_settings()


def cmd_configure(args: argparse.Namespace, actor: Any) -> int:
    """Change only the settings given; print the result."""
    from sekisho.admin.settings import configure_mfa

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
    print(json.dumps(configure_mfa(**given, actor=actor), indent=2))
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
