"""`sekisho`: consistent verbs, one-line errors and a non-zero exit instead of tracebacks."""

from __future__ import annotations

import argparse
import base64
import getpass
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A failure to report on one line."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors on one line with exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"sekisho: error: {message} (see '{self.prog} --help')\n")


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sekisho.settings")
    import logging

    import django

    django.setup()
    # The CLI answers on stdout; per-event INFO lines would only clutter a terminal.
    logging.getLogger("sekisho").setLevel(logging.WARNING)


def _read_password(args: argparse.Namespace, *, prompt: str = "Password: ") -> str | None:
    """A password from stdin (--password-stdin) or an interactive prompt; never from argv."""
    if getattr(args, "password_stdin", False):
        data = sys.stdin.readline()
        password = data.rstrip("\r\n")
        if not password:
            raise CliError("--password-stdin: standard input held no password")
        return password
    if not sys.stdin.isatty():
        return None
    first = getpass.getpass(prompt)
    second = getpass.getpass("Repeat the password: ")
    if first != second:
        raise CliError("the two passwords differ")
    return first


def _actor() -> Any:
    from sekisho.audit.writer import Actor, RequestContext

    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = str(os.getuid())
    return Actor(
        name=f"cli:{who}", context=RequestContext(source_ip="127.0.0.1", user_agent="sekisho-cli")
    )


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


# ---------------------------------------------------------------- init, serve, metadata


def cmd_init(args: argparse.Namespace) -> int:
    from sekisho.saml import services as saml

    result = saml.init_instance(actor=_actor(), quiet=args.quiet)
    if not args.quiet:
        print(result)
        if args.tightened:
            print(f"  made {len(args.tightened)} path(s) owner-only (directories 0700, files 0600)")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from sekisho.config import get_config
    from sekisho.saml import services as saml
    from sekisho.serving import prepare_server, server_command

    saml.init_instance(actor=_actor(), quiet=True)
    if not 1 <= args.port <= 65535:
        raise CliError(f"--port must be 1..65535, got {args.port}")
    if not 1 <= args.workers <= 64:
        raise CliError(f"--workers must be 1..64, got {args.workers}")
    config = get_config()
    log_config = prepare_server(
        config.data_dir, host=args.host, port=args.port, log_format=config.log_format
    )
    argv = server_command(
        host=args.host, port=args.port, workers=args.workers, log_config=log_config
    )
    sys.stdout.flush()
    os.execv(sys.executable, argv)  # noqa: S606 - replace this process with the server


def cmd_metadata(args: argparse.Namespace) -> int:
    from sekisho.saml import services as saml

    sys.stdout.write(saml.metadata_xml().decode("utf-8"))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from sekisho.demo import walkthrough

    return walkthrough.run(host=args.host, port=args.port, serve=not args.no_serve)


# ---------------------------------------------------------------- users


def cmd_user_create(args: argparse.Namespace) -> int:
    from sekisho.admin import users

    password = _read_password(args)
    user = users.create_user(
        username=args.username,
        email=args.email,
        display_name=args.display_name,
        password=password,
        temporary=args.temporary,
        time_zone=args.time_zone or "",
        actor=_actor(),
    )
    print(f"created user {user.username} ({user.uid})")
    if password is None:
        print("no password set: use 'sekisho user set-password' before the user signs in")
    elif args.temporary:
        print("the password is temporary: it must be changed at the first sign-in")
    return EXIT_OK


def cmd_user_list(args: argparse.Namespace) -> int:
    from sekisho.admin import users as admin_users
    from sekisho.directory.models import User

    users = User.objects.order_by("username")
    if args.json:
        _print_json([admin_users.describe(u) for u in users])
        return EXIT_OK
    print(f"{'USERNAME':<24} {'STATUS':<9} {'EMAIL':<32} DISPLAY NAME")
    for u in users:
        print(f"{u.username:<24} {u.status:<9} {u.email:<32} {u.display_name}")
    return EXIT_OK


def cmd_user_show(args: argparse.Namespace) -> int:
    from sekisho.admin import users

    _print_json(users.describe(users.get_user(args.username)))
    return EXIT_OK


def cmd_user_status(active: bool) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from sekisho.admin import users

        user = users.get_user(args.username)
        users.set_status(user, active=active, actor=_actor())
        print(f"{'enabled' if active else 'disabled'} user {user.username}")
        return EXIT_OK

    return run


def cmd_user_set_password(args: argparse.Namespace) -> int:
    from sekisho.admin import users

    user = users.get_user(args.username)
    password = _read_password(args)
    if password is None:
        raise CliError("no password given: use --password-stdin or run in a terminal")
    ended = users.set_password(user, password, temporary=args.temporary, actor=_actor())
    print(
        f"{'temporary ' if args.temporary else ''}password set for {user.username}"
        + (f"; {ended} session(s) ended" if ended else "")
    )
    return EXIT_OK


def cmd_user_reset_mfa(args: argparse.Namespace) -> int:
    from sekisho.admin import users

    user = users.get_user(args.username)
    count = users.reset_mfa(user, actor=_actor())
    print(f"removed {count} MFA device(s) of {user.username}; they register again at next sign-in")
    return EXIT_OK


# ---------------------------------------------------------------- groups


def cmd_group_create(args: argparse.Namespace) -> int:
    from sekisho.directory import services

    group = services.create_group(args.name, description=args.description, actor=_actor())
    print(f"created group {group.name}")
    return EXIT_OK


def cmd_group_member(add: bool) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from sekisho.directory import services

        group = services.get_group(args.group)
        user = services.get_user(args.username)
        if add:
            services.add_member(group, user, actor=_actor())
            print(f"added {user.username} to {group.name}")
        else:
            services.remove_member(group, user, actor=_actor())
            print(f"removed {user.username} from {group.name}")
        return EXIT_OK

    return run


def cmd_group_list(args: argparse.Namespace) -> int:
    from sekisho.directory.models import Group

    for group in Group.objects.order_by("name"):
        members = ", ".join(sorted(group.members.values_list("username", flat=True)))
        print(f"{group.name}: {members}")
    return EXIT_OK


# ---------------------------------------------------------------- applications


def cmd_app_create_connect(args: argparse.Namespace) -> int:
    from sekisho.saml import services as saml

    app = saml.create_amazon_connect_app(
        name=args.name,
        display_name=args.display_name,
        region=args.region,
        instance_id=args.instance_id,
        account_id=args.account_id,
        role_name=args.role_name,
        provider_name=args.provider_name,
        destination=args.destination,
        acs=args.acs,
        session_duration=args.session_duration,
        signin_url=args.signin_url,
        console_url=args.console_url,
        logout_url=args.logout_url,
        actor=_actor(),
    )
    print(f"created application {app.name} (Amazon Connect); relay state {app.relay_state}")
    return EXIT_OK


def cmd_app_create_console(args: argparse.Namespace) -> int:
    from sekisho.saml import services as saml

    app = saml.create_aws_console_app(
        name=args.name,
        display_name=args.display_name,
        account_id=args.account_id,
        role_name=args.role_name,
        provider_name=args.provider_name,
        region=args.region,
        relay_state=args.relay_state,
        session_duration=args.session_duration,
        signin_url=args.signin_url,
        actor=_actor(),
    )
    print(f"created application {app.name} (AWS console)")
    return EXIT_OK


def _read_file(path: str, *, limit: int, what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(limit + 1)
    except OSError as exc:
        raise CliError(f"cannot read {what} {path}: {exc.strerror}") from None


def cmd_app_create_saml(args: argparse.Namespace) -> int:
    from sekisho.saml import services as saml

    metadata = (
        _read_file(args.metadata, limit=1024 * 1024, what="metadata file")
        if args.metadata
        else None
    )
    certificate = (
        _read_file(args.metadata_cert, limit=64 * 1024, what="certificate file").decode(
            "ascii", "replace"
        )
        if args.metadata_cert
        else None
    )
    app = saml.create_saml_app(
        name=args.name,
        display_name=args.display_name,
        metadata=metadata,
        metadata_url=args.metadata_url,
        metadata_certificate=certificate,
        entity_id=args.entity_id,
        name_id_format=args.name_id_format,
        name_id=args.name_id,
        attributes=args.attribute or [],
        relay_state=args.relay_state or "",
        sign_response=args.sign_response,
        require_signed_requests=args.require_signed_requests,
        encrypt_assertions=args.encrypt,
        actor=_actor(),
    )
    print(f"created application {app.name} for {app.entity_id}")
    return EXIT_OK


def cmd_app_refresh(args: argparse.Namespace) -> int:
    """Fetch SP metadata again; one line per application, exit 1 if any refresh failed."""
    from sekisho.errors import SekishoError
    from sekisho.saml import services as saml
    from sekisho.saml.models import Application

    if args.all == bool(args.names):
        raise CliError("name the applications to refresh, or give --all (not both)")
    apps = (
        list(Application.objects.exclude(metadata_url="").order_by("name"))
        if args.all
        else [saml.get_app(name) for name in args.names]
    )
    failed = 0
    for app in apps:
        try:
            saml.refresh_app_metadata(app, actor=_actor())
        except SekishoError as exc:
            failed += 1
            text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            print(
                f"sekisho: error: {app.name}: {text} (kept the previous metadata)", file=sys.stderr
            )
            continue
        until = app.metadata_valid_until.isoformat() if app.metadata_valid_until else "not set"
        print(f"refreshed {app.name} from {app.metadata_url} (validUntil {until})")
    return EXIT_ERROR if failed else EXIT_OK


def cmd_app_settings(args: argparse.Namespace) -> int:
    """Change an application's NameID and encryption settings and print it."""
    from sekisho.saml import services as saml

    app = saml.get_app(args.name)
    allowed = None
    if args.allow_name_id_formats is not None:
        allowed = [f.strip() for f in args.allow_name_id_formats.split(",") if f.strip()]
    app = saml.update_app_settings(
        app,
        actor=_actor(),
        name_id_format=args.name_id_format,
        name_id_formats=allowed,
        name_id=args.name_id,
        encrypt_assertions=args.encrypt,
        encryption_algorithm=args.encryption_algorithm,
    )
    _print_json(saml.describe_app(app))
    return EXIT_OK


def cmd_app_list(args: argparse.Namespace) -> int:
    from sekisho.saml.models import Application

    apps = Application.objects.order_by("name")
    if args.json:
        _print_json([{"name": a.name, "kind": a.kind, "entity_id": a.entity_id} for a in apps])
        return EXIT_OK
    print(f"{'NAME':<24} {'KIND':<16} ENTITY ID")
    for a in apps:
        print(f"{a.name:<24} {a.kind:<16} {a.entity_id}")
    return EXIT_OK


def cmd_app_show(args: argparse.Namespace) -> int:
    from sekisho.saml import services as saml

    _print_json(saml.describe_app(saml.get_app(args.name)))
    return EXIT_OK


def cmd_app_delete(args: argparse.Namespace) -> int:
    from sekisho.saml import services as saml

    saml.delete_app(saml.get_app(args.name), actor=_actor())
    print(f"deleted application {args.name}")
    return EXIT_OK


def cmd_app_assignment(assign: bool) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from sekisho.directory import services
        from sekisho.saml import assignments
        from sekisho.saml import services as saml

        app = saml.get_app(args.app)
        user = services.get_user(args.user) if args.user else None
        group = services.get_group(args.group) if args.group else None
        target = f"user {args.user}" if args.user else f"group {args.group}"
        if assign:
            assignments.assign(app, user=user, group=group, actor=_actor())
            print(f"assigned {app.name} to {target}")
        else:
            existed = assignments.unassign(app, user=user, group=group, actor=_actor())
            print(
                f"unassigned {app.name} from {target}"
                if existed
                else f"{target} was not assigned to {app.name}"
            )
        return EXIT_OK

    return run


# ---------------------------------------------------------------- saml, audit


def cmd_saml_preview(args: argparse.Namespace) -> int:
    from sekisho.directory.services import get_user
    from sekisho.saml import services as saml

    app = saml.get_app(args.app)
    user = get_user(args.user)
    xml = saml.preview(app=app, user=user, mfa_used=not args.no_mfa)
    if args.decode:
        sys.stdout.write(saml.pretty(xml))
    else:
        print(base64.b64encode(xml).decode("ascii"))
    return EXIT_OK


def cmd_audit_tail(args: argparse.Namespace) -> int:
    from sekisho.audit.writer import tail

    if args.lines < 0:
        raise CliError(f"-n must be 0 or more, got {args.lines}")
    last = 0
    for row_id, line in tail(limit=args.lines):
        print(line, flush=True)
        last = row_id
    if not args.follow:
        return EXIT_OK
    try:
        while True:
            time.sleep(args.interval)
            for row_id, line in tail(after_id=last):
                print(line, flush=True)
                last = row_id
    except KeyboardInterrupt:
        return EXIT_OK


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser of the `sekisho` command."""
    parser = _Parser(prog="sekisho", description="Sekisho SAML 2.0 identity provider")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("init", help="create the database, keys and defaults (idempotent)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("serve", help="serve the IdP (granian, several worker processes)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="set up the demo (user, Amazon Connect app) and serve it")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--no-serve", action="store_true", help="set up and print, but do not serve")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("metadata", help="print the IdP's SAML metadata XML")
    p.set_defaults(func=cmd_metadata)

    user = sub.add_parser("user", help="manage users").add_subparsers(
        dest="action", metavar="ACTION", parser_class=_Parser
    )
    user.required = True
    p = user.add_parser("create", help="create a user")
    p.add_argument("username")
    p.add_argument("--email", required=True)
    p.add_argument("--display-name")
    p.add_argument("--time-zone", help="IANA zone for the times this user sees (Asia/Tokyo)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument(
        "--temporary", action="store_true", help="the user must change it at the first sign-in"
    )
    p.set_defaults(func=cmd_user_create)
    p = user.add_parser("list", help="list users")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_user_list)
    for name, func, text in (
        ("show", cmd_user_show, "show one user"),
        ("disable", cmd_user_status(False), "disable a user (sign-in and launches refused)"),
        ("enable", cmd_user_status(True), "enable a user"),
        ("reset-mfa", cmd_user_reset_mfa, "forget a user's MFA devices"),
    ):
        p = user.add_parser(name, help=text)
        p.add_argument("username")
        p.set_defaults(func=func)
    p = user.add_parser("set-password", help="set a user's password (their sessions end)")
    p.add_argument("username")
    p.add_argument("--password-stdin", action="store_true")
    p.add_argument(
        "--temporary", action="store_true", help="the user must change it at the next sign-in"
    )
    p.set_defaults(func=cmd_user_set_password)

    group = sub.add_parser("group", help="manage groups").add_subparsers(
        dest="action", metavar="ACTION", parser_class=_Parser
    )
    group.required = True
    p = group.add_parser("create", help="create a group")
    p.add_argument("name")
    p.add_argument("--description", default="")
    p.set_defaults(func=cmd_group_create)
    p = group.add_parser("list", help="list groups and members")
    p.set_defaults(func=cmd_group_list)
    for name, add in (("add-member", True), ("remove-member", False)):
        p = group.add_parser(
            name, help=f"{'add a user to' if add else 'remove a user from'} a group"
        )
        p.add_argument("group")
        p.add_argument("username")
        p.set_defaults(func=cmd_group_member(add))

    app = sub.add_parser("app", help="manage applications").add_subparsers(
        dest="action", metavar="ACTION", parser_class=_Parser
    )
    app.required = True
    p = app.add_parser("create-amazon-connect", help="add an Amazon Connect instance")
    p.add_argument("name")
    p.add_argument("--display-name")
    p.add_argument("--region", required=True)
    p.add_argument("--instance-id", required=True)
    p.add_argument("--account-id", required=True)
    p.add_argument("--role-name", required=True)
    p.add_argument("--provider-name", required=True)
    p.add_argument("--destination", help="ccp, agent-app or a path such as /ccp-v2/")
    p.add_argument(
        "--acs",
        choices=["global", "regional"],
        default="global",
        help="AWS sign-in endpoint; regional also needs that URL in the role's SAML:aud",
    )
    p.add_argument("--session-duration", type=int, help="seconds, 900..43200")
    p.add_argument("--signin-url", help="override https://<region>.signin.aws.amazon.com/saml")
    p.add_argument("--console-url", help="override https://<region>.console.aws.amazon.com")
    p.add_argument(
        "--logout-url",
        help="the instance's logout URL (https://<alias>.my.connect.aws/connect/logout), "
        "requested when a person signs out of Sekisho",
    )
    p.set_defaults(func=cmd_app_create_connect)

    p = app.add_parser("create-aws-console", help="add the AWS Management Console")
    p.add_argument("name")
    p.add_argument("--display-name")
    p.add_argument("--account-id", required=True)
    p.add_argument("--role-name", required=True)
    p.add_argument("--provider-name", required=True)
    p.add_argument("--region")
    p.add_argument("--relay-state")
    p.add_argument("--session-duration", type=int)
    p.add_argument("--signin-url")
    p.set_defaults(func=cmd_app_create_console)

    p = app.add_parser("create-saml", help="add any SAML 2.0 SP from its metadata")
    p.add_argument("name")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--metadata", help="the SP's metadata XML file")
    source.add_argument(
        "--metadata-url", help="fetch the SP's metadata from this https URL (see app refresh)"
    )
    p.add_argument(
        "--metadata-cert",
        metavar="FILE",
        help="PEM certificate the metadata must be signed with (then http URLs are allowed)",
    )
    p.add_argument("--display-name")
    p.add_argument("--entity-id", help="which SP, when the metadata holds several")
    p.add_argument(
        "--name-id-format",
        choices=["unspecified", "emailAddress", "persistent", "transient"],
        default=None,
        help="default: the first format the SP's metadata declares (then unspecified)",
    )
    p.add_argument(
        "--name-id",
        help="mapping for the NameID value (default: generated for persistent/transient, "
        "${user:email} for emailAddress, ${user:username} otherwise)",
    )
    p.add_argument(
        "--attribute",
        action="append",
        metavar="NAME=EXPRESSION[;FORMAT]",
        help="attribute mapping, e.g. mail=${user:email};basic (repeatable)",
    )
    p.add_argument("--relay-state")
    p.add_argument("--sign-response", action="store_true", help="sign the Response as well")
    p.add_argument(
        "--require-signed-requests", action="store_true", help="refuse unsigned AuthnRequests"
    )
    p.add_argument(
        "--encrypt",
        choices=["auto", "always", "never"],
        default="auto",
        help="encrypt assertions: auto (when the SP's metadata has an encryption key)",
    )
    p.set_defaults(func=cmd_app_create_saml)

    p = app.add_parser("refresh", help="fetch SP metadata again from its URL")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--all", action="store_true", help="every application with a metadata URL")
    p.set_defaults(func=cmd_app_refresh)

    p = app.add_parser("settings", help="change an application's NameID and encryption settings")
    p.add_argument("name")
    p.add_argument(
        "--name-id-format", choices=["unspecified", "emailAddress", "persistent", "transient"]
    )
    p.add_argument(
        "--allow-name-id-formats",
        metavar="F1,F2",
        help="formats an AuthnRequest's NameIDPolicy may ask for besides the default one and "
        "the opaque persistent and transient (comma-separated)",
    )
    p.add_argument("--name-id", help="mapping for the NameID value of --name-id-format")
    p.add_argument("--encrypt", choices=["auto", "always", "never"])
    p.add_argument(
        "--encryption-algorithm",
        choices=["auto", "aes256-gcm", "aes128-gcm", "aes256-cbc", "aes128-cbc"],
        help="override the algorithm chosen from the SP's metadata",
    )
    p.set_defaults(func=cmd_app_settings)

    p = app.add_parser("list", help="list applications")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_app_list)
    for name, func, text in (
        ("show", cmd_app_show, "show one application"),
        ("delete", cmd_app_delete, "delete an application"),
    ):
        p = app.add_parser(name, help=text)
        p.add_argument("name")
        p.set_defaults(func=func)
    for name, assign in (("assign", True), ("unassign", False)):
        p = app.add_parser(name, help=f"{name} an application to a user or group")
        p.add_argument("app")
        target = p.add_mutually_exclusive_group(required=True)
        target.add_argument("--user")
        target.add_argument("--group")
        p.set_defaults(func=cmd_app_assignment(assign))

    saml = sub.add_parser("saml", help="SAML tools").add_subparsers(
        dest="action", metavar="ACTION", parser_class=_Parser
    )
    saml.required = True
    p = saml.add_parser("preview", help="the signed SAMLResponse a launch would post now")
    p.add_argument("--app", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--decode", action="store_true", help="pretty-print the XML instead")
    p.add_argument("--no-mfa", action="store_true", help="as if signed in without MFA")
    p.set_defaults(func=cmd_saml_preview)

    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(
        dest="action", metavar="ACTION", parser_class=_Parser
    )
    audit.required = True
    p = audit.add_parser("tail", help="print audit records as JSON lines")
    p.add_argument("-n", "--lines", type=int, default=20)
    p.add_argument("--follow", "-f", action="store_true")
    p.add_argument("--interval", type=float, default=1.0, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_audit_tail)

    from sekisho.cli import policy

    def with_actor(func: Callable[[argparse.Namespace, Any], int]) -> Callable[..., int]:
        return lambda args: func(args, _actor())

    policy.register(sub, _Parser, with_actor)

    from sekisho.cli import mfa

    mfa.register(sub, _Parser, with_actor, app)

    from sekisho.cli import aws

    aws.register(sub, _Parser, with_actor)

    from sekisho.cli import keys

    keys.register(sub, _Parser, with_actor)

    from sekisho.cli import radius

    radius.register(sub, _Parser, with_actor, user_actions=user)

    from sekisho.cli import backup

    backup.register(sub, _Parser)

    from sekisho.cli import admin

    admin.register(sub, _Parser, with_actor, user_actions=user, group_actions=group)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with an owner-only umask; every expected failure is one line, exit status 1."""
    from sekisho.instance import restrict_umask

    # Before anything can create a file: SQLite makes the database, -wal and -shm with
    # 0644 & ~umask, and gunicorn (exec'd by `serve`, run by `demo`) inherits the umask.
    previous = restrict_umask()
    try:
        return _run(argv)
    finally:
        os.umask(previous)  # only matters to in-process callers such as tests


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors and --help: argparse already printed them
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command in ("serve", "demo") and not os.environ.get("SEKISHO_BASE_URL"):
        host = "localhost" if args.host in ("127.0.0.1", "::1", "localhost") else args.host
        os.environ["SEKISHO_BASE_URL"] = f"http://{host}:{args.port}"
    try:
        if not getattr(args, "needs_database", True) and not getattr(args, "idp", False):
            # Policy files are checked without any Sekisho installation (e.g. in CI);
            # backup and restore must not let Django's settings touch SEKISHO_DATA first.
            result: int = args.func(args)
            return result
        from sekisho.config import get_config

        config = get_config()
        if args.command in ("init", "serve", "demo"):
            from sekisho.instance import secure_data_dir

            # Before Django: loading the settings already writes master.key into the directory.
            args.tightened = secure_data_dir(config)
        _setup_django()
        if args.command not in ("init", "serve", "demo"):
            from sekisho.saml import services as saml

            saml.require_initialized()
        result = args.func(args)
        return result
    except KeyboardInterrupt:
        print("sekisho: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # the one place that turns any error into one line
        return _report(exc)


def _report(exc: Exception) -> int:
    from sekisho.cli.policy import PolicyCliError
    from sekisho.errors import SekishoError

    if isinstance(exc, SekishoError | CliError | PolicyCliError):
        # One line, even for errors that list several problems (e.g. an invalid policy).
        text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        print(f"sekisho: error: {text}", file=sys.stderr)
        return EXIT_ERROR
    try:
        from django.db import DatabaseError

        if isinstance(exc, DatabaseError):
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            print(
                f"sekisho: database error: {first_line}",
                file=sys.stderr,
            )
            return EXIT_ERROR
    except ImportError:  # pragma: no cover
        pass
    print(f"sekisho: unexpected error: {type(exc).__name__}: {exc}", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
