"""`sekisho keys …`: the IdP's signing key, and rotating it without breaking federation.

A rotation has two steps. `keys rotate` makes the next key and publishes its certificate in
the metadata beside the current one (the current key keeps signing); `keys rotate
--finish` makes the next key sign. With ``--app``, each step also updates that Amazon
Connect application's IAM SAML provider (UpdateSAMLProvider), so AWS trusts both keys
before the switch and only the new one after it: federation never breaks.
"""

from __future__ import annotations

import argparse
from typing import Any

from sekisho.cli.aws import add_aws_options, open_aws


def _out(line: str) -> None:
    print(line, flush=True)


def cmd_keys_show(args: argparse.Namespace, actor: Any) -> int:
    """The current (and staged) signing certificate: fingerprint and validity, no secret."""
    from sekisho.saml import services as saml

    for label, key in (("current", saml.signing_key()), ("next", saml.next_signing_key())):
        if key is None:
            continue
        certificate = key.certificate
        _out(
            f"{label:8} SHA-256 {key.certificate_sha256}  valid "
            f"{certificate.not_valid_before_utc:%Y-%m-%d} to "
            f"{certificate.not_valid_after_utc:%Y-%m-%d}"
        )
    return 0


def _update_providers(args: argparse.Namespace) -> None:
    from sekisho.provisioning import services

    for app in args.app or ():
        services.update_provider(app, open_aws(args, app), out=_out)


def cmd_keys_rotate(args: argparse.Namespace, actor: Any) -> int:
    """Step 1 (publish the next key) or, with --finish, step 2 (the next key signs)."""
    from sekisho.saml import services as saml

    if args.finish:
        if saml.next_signing_key() is not None:
            # IAM must trust the next key before it signs (the first step may have run
            # without --app): a provider that cannot be updated stops the switch.
            _update_providers(args)
        old, new = saml.switch_signing_key(actor=actor)
        _out(
            f"The key with certificate {new.certificate_sha256[:16]}… signs from now on; "
            f"{old.certificate_sha256[:16]}… is kept as the previous key, no longer published."
        )
        _update_providers(args)
        if not args.app:
            _out("Give every service provider the new metadata: sekisho metadata")
        return 0
    key, made = saml.stage_signing_key(actor=actor)
    verb = "is now published" if made else "was already published"
    _out(
        f"The next signing certificate {key.certificate_sha256[:16]}… {verb} in the metadata "
        "beside the current one; the current key still signs."
    )
    _update_providers(args)
    if not args.app:
        _out("Give every service provider the new metadata first: sekisho metadata")
    _out(
        "When every service provider has it, switch: sekisho keys rotate --finish"
        + "".join(f" --app {app}" for app in args.app or ())
    )
    return 0


def register(sub: Any, parser_class: type[argparse.ArgumentParser], with_actor: Any) -> None:
    """Add `keys show|rotate` to the CLI."""
    keys = sub.add_parser("keys", help="the IdP's signing key").add_subparsers(
        dest="action", metavar="ACTION", parser_class=parser_class
    )
    keys.required = True
    p = keys.add_parser("show", help="the signing certificates' fingerprints")
    p.set_defaults(func=with_actor(cmd_keys_show))
    p = keys.add_parser(
        "rotate", help="publish the next signing key, or switch to it with --finish"
    )
    p.add_argument("--finish", action="store_true", help="the published next key signs from now on")
    p.add_argument(
        "--app",
        metavar="APP",
        action="append",
        help="update this Amazon Connect app's IAM SAML provider too (repeatable)",
    )
    add_aws_options(p)
    p.set_defaults(func=with_actor(cmd_keys_rotate))
