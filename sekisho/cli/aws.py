"""`sekisho aws …`: the AWS side of an application, against AWS or Sekisho's emulator.

`bootstrap` makes the emulated account. The others are clients of any AWS endpoint through
boto3's standard credential chain (``--profile``, the environment, SSO), ``--endpoint-url``
or ``AWS_ENDPOINT_URL`` for the emulator: each prints its plan before changing anything.
"""

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


def _out(line: str) -> None:
    print(line, flush=True)


def open_aws(args: argparse.Namespace, app: str) -> Any:
    """boto3 clients for APP's region (or --region), profile and endpoint."""
    from sekisho.provisioning.aws import Aws, AwsTarget
    from sekisho.provisioning.services import connect_app

    _, conf = connect_app(app)
    return Aws.open(
        AwsTarget(
            region=args.region or conf.region,
            profile=args.profile,
            endpoint_url=args.endpoint_url,
        )
    )


def cmd_setup_connect(args: argparse.Namespace, actor: Any) -> int:
    """The seed's AWS side for a Connect app: plan, print, apply."""
    from sekisho.provisioning import services

    services.setup_connect(
        args.app,
        open_aws(args, args.app),
        allowed_ips=args.allowed_ips,
        instance_id=args.instance_id,
        instance_alias=args.instance_alias,
        policy_name=args.policy_name,
        connect_ip_restriction=args.connect_ip_restriction,
        dry_run=args.dry_run,
        actor=actor,
        out=_out,
    )
    return 0


def cmd_set_allowed_ips(args: argparse.Namespace, actor: Any) -> int:
    """A new default version of the federation policy's IP ranges, or a rollback."""
    from sekisho.provisioning import services

    if args.rollback == bool(args.cidrs):
        args.parser.error("give the allowed CIDR blocks, or --rollback (not both)")
    services.set_allowed_ips(
        args.app,
        open_aws(args, args.app),
        allowed_ips=args.cidrs,
        rollback=args.rollback,
        policy_name=args.policy_name,
        dry_run=args.dry_run,
        out=_out,
    )
    return 0


def cmd_sync_users(args: argparse.Namespace, actor: Any) -> int:
    """Every assigned user in Connect, named as in the directory; prints the diff."""
    from sekisho.provisioning import services

    services.sync_users(
        args.app,
        open_aws(args, args.app),
        security_profiles=args.security_profile or services.DEFAULT_SECURITY_PROFILES,
        routing_profile=args.routing_profile,
        delete_missing=args.delete_missing,
        dry_run=args.dry_run,
        out=_out,
    )
    return 0


def cmd_doctor(args: argparse.Namespace, actor: Any) -> int:
    """Check the whole chain; exit status 1 when a link is broken."""
    from sekisho.provisioning import services

    findings = services.doctor(
        args.app,
        open_aws(args, args.app),
        allowed_ips=args.allowed_ips or (),
        policy_name=args.policy_name,
    )
    for finding in findings:
        _out(f"  {'ok  ' if finding.ok else 'FAIL'}  {finding.text}")
    broken = sum(1 for finding in findings if not finding.ok)
    if broken:
        _out(f"{broken} problem{'s' if broken != 1 else ''} found.")
        return 1
    _out("Every link of the chain holds.")
    return 0


def add_aws_options(parser: argparse.ArgumentParser) -> None:
    """--profile, --region, --endpoint-url: where boto3's credential chain points."""
    parser.add_argument("--profile", help="AWS profile (default: boto3's credential chain)")
    parser.add_argument("--region", help="AWS region (default: the application's)")
    parser.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="another AWS endpoint, e.g. Sekisho's emulator <base-url>/aws "
        "(default: AWS, or AWS_ENDPOINT_URL)",
    )


def register(sub: Any, parser_class: type[argparse.ArgumentParser], with_actor: Any = None) -> None:
    """Add `aws bootstrap|setup-connect|set-allowed-ips|sync-users|doctor` to the CLI."""
    aws = sub.add_parser("aws", help="the AWS side: AWS itself or the emulator").add_subparsers(
        dest="action", metavar="ACTION", parser_class=parser_class
    )
    aws.required = True
    p = aws.add_parser("bootstrap", help="create the emulated account and print a root access key")
    p.add_argument("--account-id", metavar="ID", help="12-digit account id (default: random)")
    p.set_defaults(func=cmd_aws_bootstrap)

    def with_actor_or_none(func: Any) -> Any:
        return with_actor(func) if with_actor is not None else (lambda args: func(args, None))

    p = aws.add_parser(
        "setup-connect",
        help="SAML provider, role, federation policy for a Connect app (prints the plan first)",
    )
    p.add_argument("app", metavar="APP")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--instance-id", metavar="ID", help="default: the application's")
    which.add_argument("--instance-alias", metavar="ALIAS")
    p.add_argument(
        "--allowed-ips",
        metavar="CIDR[,CIDR…]",
        action="append",
        required=True,
        help="addresses the federation policy admits (aws:SourceIp)",
    )
    p.add_argument(
        "--policy-name", help="the federation policy's name (default sekisho-APP-federation)"
    )
    p.add_argument(
        "--connect-ip-restriction",
        action="store_true",
        help="also set the instance's authentication profile AllowedIps (Connect's own "
        "IP restriction)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    add_aws_options(p)
    p.set_defaults(func=with_actor_or_none(cmd_setup_connect))

    p = aws.add_parser(
        "set-allowed-ips", help="a new default version of the federation policy's IP ranges"
    )
    p.add_argument("app", metavar="APP")
    p.add_argument("cidrs", metavar="CIDR", nargs="*")
    p.add_argument("--rollback", action="store_true", help="make the previous version the default")
    p.add_argument("--policy-name")
    p.add_argument("--dry-run", action="store_true")
    add_aws_options(p)
    p.set_defaults(func=with_actor_or_none(cmd_set_allowed_ips), parser=p)

    p = aws.add_parser("sync-users", help="every user assigned to APP as a Connect user")
    p.add_argument("app", metavar="APP")
    p.add_argument(
        "--security-profile",
        metavar="NAME",
        action="append",
        help="for users created (repeatable; default Agent)",
    )
    p.add_argument("--routing-profile", metavar="NAME", help="default: Basic Routing Profile")
    p.add_argument(
        "--delete-missing", action="store_true", help="delete Connect users not assigned to APP"
    )
    p.add_argument("--dry-run", action="store_true")
    add_aws_options(p)
    p.set_defaults(func=with_actor_or_none(cmd_sync_users))

    p = aws.add_parser("doctor", help="check the whole chain against AWS and explain mismatches")
    p.add_argument("app", metavar="APP")
    p.add_argument(
        "--allowed-ips",
        metavar="CIDR",
        action="append",
        help="ranges that must be admitted (default: the federation policy's)",
    )
    p.add_argument("--policy-name")
    add_aws_options(p)
    p.set_defaults(func=with_actor_or_none(cmd_doctor))
