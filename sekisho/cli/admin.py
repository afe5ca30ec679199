"""`sekisho api-token …`, `sekisho settings …` and the administrative `user`/`group` verbs.

Every command calls the same services as the console and the API (``sekisho.admin``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from sekisho.errors import ConfigError

MAX_IMPORT_FILE = 8 * 1024 * 1024


def _json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


# ---------------------------------------------------------------- API tokens


def cmd_token_create(args: argparse.Namespace, actor: Any) -> int:
    """Create a token and print it once (it is never shown again)."""
    from sekisho.admin import roles, tokens

    issued = tokens.create(
        args.name, roles.parse_role(args.role), expires_days=args.expires_days, actor=actor
    )
    print(issued.value)
    expiry = f", expires {issued.expires_at:%Y-%m-%d %H:%M} UTC" if issued.expires_at else ""
    print(
        f"created API token {issued.name} (role {issued.role.value}{expiry}); it is shown "
        "only now: store it in your secret manager",
        file=sys.stderr,
    )
    return 0


def cmd_token_list(args: argparse.Namespace, actor: Any) -> int:
    """List tokens (never their secrets)."""
    from sekisho.admin import tokens

    rows = [
        {
            "name": t.name,
            "role": t.role,
            "created_at": t.created_at,
            "created_by": t.created_by,
            "expires_at": t.expires_at,
            "revoked_at": t.revoked_at,
            "last_used_at": t.last_used_at,
        }
        for t in tokens.list_tokens()
    ]
    if args.json:
        _json(rows)
        return 0
    if not rows:
        print("no API token exists (create one with 'sekisho api-token create')")
        return 0
    print(f"{'NAME':<24} {'ROLE':<9} {'STATE':<8} {'EXPIRES':<17} LAST USED")
    for r in rows:
        state = "revoked" if r["revoked_at"] else "active"
        expires = f"{r['expires_at']:%Y-%m-%d %H:%M}" if r["expires_at"] else "never"
        used = f"{r['last_used_at']:%Y-%m-%d %H:%M}" if r["last_used_at"] else "never"
        print(f"{r['name']:<24} {r['role']:<9} {state:<8} {expires:<17} {used}")
    return 0


def cmd_token_revoke(args: argparse.Namespace, actor: Any) -> int:
    """Revoke a token at once."""
    from sekisho.admin import tokens

    tokens.revoke(args.name, actor=actor)
    print(f"revoked API token {args.name}")
    return 0


# ---------------------------------------------------------------- users


def cmd_grant_role(grant: bool) -> Callable[[argparse.Namespace, Any], int]:
    """grant-role / revoke-role."""

    def run(args: argparse.Namespace, actor: Any) -> int:
        from sekisho.admin import roles, users

        user = users.get_user(args.username)
        role = roles.parse_role(args.role)
        if grant:
            done = roles.grant(user, role, actor=actor)
            print(
                f"granted {role.value} to {user.username}"
                if done
                else f"{user.username} already holds {role.value}"
            )
        else:
            done = roles.revoke(user, role, actor=actor)
            print(
                f"revoked {role.value} from {user.username}"
                if done
                else f"{user.username} does not hold {role.value}"
            )
        return 0

    return run


def cmd_update(args: argparse.Namespace, actor: Any) -> int:
    """Change a user's email, display name or time zone."""
    from sekisho.admin import users
    from sekisho.directory import services as directory

    if args.email is None and args.display_name is None and args.time_zone is None:
        raise ConfigError("nothing to change: give --email, --display-name or --time-zone")
    user = users.get_user(args.username)
    changes = directory.update_user(
        user,
        email=args.email,
        display_name=args.display_name,
        time_zone=args.time_zone,
        actor=actor,
    )
    print(f"updated {user.username}: {', '.join(sorted(changes)) or 'nothing changed'}")
    return 0


def cmd_unlock(args: argparse.Namespace, actor: Any) -> int:
    """Lift the user's sign-in and MFA locks."""
    from sekisho.admin import users

    user = users.get_user(args.username)
    users.unlock(user, actor=actor)
    print(f"unlocked {user.username}")
    return 0


def cmd_delete(args: argparse.Namespace, actor: Any) -> int:
    """Delete a user (sessions end; devices and memberships go)."""
    from sekisho.admin import users

    user = users.get_user(args.username)
    users.delete_user(user, actor=actor)
    print(f"deleted user {args.username}")
    return 0


def cmd_sessions(args: argparse.Namespace, actor: Any) -> int:
    """List a user's signed-in sessions."""
    from sekisho.admin import users

    found = users.active_sessions(users.get_user(args.username))
    rows = [
        {
            "session_id": s.session_id,
            "signed_in": s.created_at,
            "last_seen": s.last_seen,
            "source_ip": s.source_ip,
            "mfa": s.mfa,
            "user_agent": s.user_agent,
        }
        for s in found
    ]
    if args.json:
        _json(rows)
        return 0
    if not rows:
        print(f"{args.username} has no signed-in session")
    for r in rows:
        print(
            f"{r['session_id']}  since {r['signed_in']:%Y-%m-%d %H:%M} UTC  "
            f"from {r['source_ip']}  {'MFA' if r['mfa'] else 'no MFA'}"
        )
    return 0


def cmd_revoke_sessions(args: argparse.Namespace, actor: Any) -> int:
    """End every session of a user, on every node."""
    from sekisho.admin import users

    user = users.get_user(args.username)
    ended = users.revoke_sessions(user, actor=actor)
    print(f"ended {ended} session(s) of {user.username}")
    return 0


def cmd_import(args: argparse.Namespace, actor: Any) -> int:
    """Import users from CSV: every bad row is reported; nothing changes if any is bad."""
    from sekisho.admin import csvio

    try:
        if args.file == "-":
            data = sys.stdin.buffer.read(MAX_IMPORT_FILE + 1)
        else:
            with open(args.file, "rb") as handle:
                data = handle.read(MAX_IMPORT_FILE + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {args.file}: {exc.strerror}") from None
    report = csvio.import_users(data, dry_run=args.dry_run, skip_bad=args.skip_bad, actor=actor)
    for problem in report.problems:
        where = f"line {problem.line}" if problem.line else "import"
        column = f" {problem.field}" if problem.field else ""
        print(f"{where}{column}: {problem.message}", file=sys.stderr)
    if report.dry_run:
        print(
            f"dry run: {report.rows} row(s), {report.valid} valid, {report.bad_rows} bad; "
            "nothing was changed"
        )
        return 1 if report.problems else 0
    if report.applied:
        skipped = f", {report.bad_rows} bad row(s) skipped" if report.problems else ""
        print(f"created {len(report.created)} user(s){skipped}")
        return 0
    print(
        f"nothing was imported: {report.bad_rows} of {report.rows} row(s) are bad "
        "(fix them, or give --skip-bad to import the good rows)",
        file=sys.stderr,
    )
    return 1


def cmd_export(args: argparse.Namespace, actor: Any) -> int:
    """Every user as CSV (UTF-8 with BOM), to a file or stdout."""
    from sekisho.admin import csvio

    data = csvio.export_csv()
    if args.output in (None, "-"):
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    try:
        with open(args.output, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise ConfigError(f"cannot write {args.output}: {exc.strerror}") from None
    lines = data.count(b"\n")
    print(f"wrote {lines - 1} user(s) to {args.output}")
    return 0


# ---------------------------------------------------------------- groups, settings


def cmd_group_delete(args: argparse.Namespace, actor: Any) -> int:
    """Delete a group (its members stay)."""
    from sekisho.admin import users
    from sekisho.directory import services as directory

    directory.delete_group(users.get_group(args.name), actor=actor)
    print(f"deleted group {args.name}")
    return 0


def cmd_group_update(args: argparse.Namespace, actor: Any) -> int:
    """Change a group's description."""
    from sekisho.admin import users
    from sekisho.directory import services as directory

    changed = directory.update_group(
        users.get_group(args.name), description=args.description, actor=actor
    )
    print(f"updated group {args.name}" if changed else f"group {args.name} unchanged")
    return 0


def cmd_settings_show(args: argparse.Namespace, actor: Any) -> int:
    """The IdP's settings as JSON."""
    from sekisho.admin import settings

    _json(settings.idp_settings())
    return 0


def cmd_settings_set(args: argparse.Namespace, actor: Any) -> int:
    """Change the IdP's settings."""
    from sekisho.admin import settings

    if args.time_zone is None:
        raise ConfigError("nothing to change: give --time-zone")
    _json(settings.set_time_zone(args.time_zone, actor=actor))
    return 0


def register(
    sub: Any,
    parser_class: type[argparse.ArgumentParser],
    with_actor: Callable[..., Any],
    *,
    user_actions: Any,
    group_actions: Any,
) -> None:
    """Add `api-token …`, `settings …` and the administrative user and group verbs."""
    token = sub.add_parser("api-token", help="bearer tokens for the REST API").add_subparsers(
        dest="action", metavar="ACTION", parser_class=parser_class
    )
    token.required = True
    p = token.add_parser("create", help="create a token and print it once")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=["admin", "helpdesk", "auditor"])
    p.add_argument("--expires-days", type=int, metavar="N")
    p.set_defaults(func=with_actor(cmd_token_create))
    p = token.add_parser("list", help="list tokens (never their secrets)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=with_actor(cmd_token_list))
    p = token.add_parser("revoke", help="revoke a token")
    p.add_argument("name")
    p.set_defaults(func=with_actor(cmd_token_revoke))

    for name, grant in (("grant-role", True), ("revoke-role", False)):
        p = user_actions.add_parser(
            name, help=f"{'grant' if grant else 'take away'} an administrative role"
        )
        p.add_argument("username")
        p.add_argument("role", choices=["admin", "helpdesk", "auditor"])
        p.set_defaults(func=with_actor(cmd_grant_role(grant)))
    p = user_actions.add_parser("update", help="change a user's email, display name, time zone")
    p.add_argument("username")
    p.add_argument("--email")
    p.add_argument("--display-name")
    p.add_argument("--time-zone", help="IANA zone (Asia/Tokyo); empty: the IdP's")
    p.set_defaults(func=with_actor(cmd_update))
    for name, func, text in (
        ("unlock", cmd_unlock, "lift a user's sign-in and MFA locks"),
        ("delete", cmd_delete, "delete a user"),
        ("revoke-sessions", cmd_revoke_sessions, "end every session of a user"),
    ):
        p = user_actions.add_parser(name, help=text)
        p.add_argument("username")
        p.set_defaults(func=with_actor(func))
    p = user_actions.add_parser("sessions", help="list a user's signed-in sessions")
    p.add_argument("username")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=with_actor(cmd_sessions))
    p = user_actions.add_parser("import", help="create users from a CSV file")
    p.add_argument("file", help="the CSV file ('-' for stdin)")
    p.add_argument("--dry-run", action="store_true", help="check every row, change nothing")
    p.add_argument("--skip-bad", action="store_true", help="import the good rows, skip bad ones")
    p.set_defaults(func=with_actor(cmd_import))
    p = user_actions.add_parser("export", help="every user as CSV")
    p.add_argument("--output", "-o", metavar="FILE")
    p.set_defaults(func=with_actor(cmd_export))

    p = group_actions.add_parser("delete", help="delete a group")
    p.add_argument("name")
    p.set_defaults(func=with_actor(cmd_group_delete))
    p = group_actions.add_parser("update", help="change a group's description")
    p.add_argument("name")
    p.add_argument("--description", required=True)
    p.set_defaults(func=with_actor(cmd_group_update))

    settings = sub.add_parser("settings", help="the IdP's own settings").add_subparsers(
        dest="action", metavar="ACTION", parser_class=parser_class
    )
    settings.required = True
    p = settings.add_parser("show", help="print the settings as JSON")
    p.set_defaults(func=with_actor(cmd_settings_show))
    p = settings.add_parser("set", help="change settings")
    p.add_argument("--time-zone", help="the default zone times are shown in (Asia/Tokyo)")
    p.set_defaults(func=with_actor(cmd_settings_set))
