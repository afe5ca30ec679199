"""`sekisho aws …`: the emulated AWS side (an account and its root access key)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def cmd_aws_bootstrap(args: argparse.Namespace) -> int:
    """Create (or reuse) the emulated account and print a new root access key as JSON."""
    from sekisho.emulator.services import bootstrap_account

    key = bootstrap_account(getattr(args, "account_id", None))
    print(
        json.dumps(
            {
                "AccountId": key.account_id,
                "AccessKeyId": key.access_key_id,
                "SecretAccessKey": key.secret_access_key,
            }
        )
    )
    return 0


def register(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add `aws bootstrap` to the CLI."""
    aws = sub.add_parser("aws", help="the emulated AWS side").add_subparsers(
        dest="action", metavar="ACTION", parser_class=parser_class
    )
    aws.required = True
    p = aws.add_parser("bootstrap", help="create the account and print a root access key")
    p.add_argument("--account-id", metavar="ID", help="12-digit account id (default: random)")
    p.set_defaults(func=cmd_aws_bootstrap)
