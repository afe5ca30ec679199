"""`sekisho radius …` and `sekisho user set-radius-username`: RADIUS servers for MFA."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from typing import Any

from sekisho.errors import ConfigError

# Read at most this much from stdin: a secret is short, a stray file piped in is not.
MAX_SECRET_INPUT = 4096


def read_secret() -> bytes:
    """The shared secret from stdin (one line) or a terminal prompt; never from argv."""
    if sys.stdin.isatty():
        first = getpass.getpass("Shared secret: ")
        if getpass.getpass("Repeat the shared secret: ") != first:
            raise ConfigError("the two shared secrets differ")
        text = first
    else:
        text = sys.stdin.readline(MAX_SECRET_INPUT).rstrip("\r\n")
    if not text:
        raise ConfigError("no shared secret on standard input (give it on one line)")
    return text.encode("utf-8")


def cmd_add(args: argparse.Namespace, actor: Any) -> int:
    """Add a server at the end of the failover order."""
    from sekisho.mfa import radius_admin

    secret = read_secret()
    server = radius_admin.add_server(
        args.name,
        host=args.host,
        port=args.port,
        timeout=args.timeout,
        retries=args.retries,
        secret=secret,
        actor=actor,
    )
    print(
        f"added RADIUS server {server.name} ({server.host}:{server.port}), "
        f"position {server.position + 1} in the failover order"
    )
    if len(secret) < radius_admin.RECOMMENDED_SECRET_BYTES:
        print(
            f"warning: the shared secret is shorter than {radius_admin.RECOMMENDED_SECRET_BYTES}"
            " bytes (RFC 2865 §3 advises at least 16)",
            file=sys.stderr,
        )
    return 0


def cmd_list(args: argparse.Namespace, actor: Any) -> int:
    """List servers in failover order; the secret is never shown."""
    from sekisho.mfa import radius_admin

    servers = radius_admin.list_servers()
    rows = [
        {
            "order": index,
            "name": s.name,
            "host": s.host,
            "port": s.port,
            "timeout": s.timeout,
            "retries": s.retries,
            "created_at": s.created_at,
        }
        for index, s in enumerate(servers, start=1)
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return 0
    if not rows:
        print("no RADIUS server is configured (add one with 'sekisho radius add')")
        return 0
    print(f"{'ORDER':<6} {'NAME':<24} {'HOST':<32} {'PORT':<6} {'TIMEOUT':<8} RETRIES")
    for r in rows:
        print(
            f"{r['order']:<6} {r['name']:<24} {r['host']:<32} {r['port']:<6} "
            f"{r['timeout']:<8g} {r['retries']}"
        )
    return 0


def cmd_remove(args: argparse.Namespace, actor: Any) -> int:
    """Remove a server."""
    from sekisho.mfa import radius_admin

    registered = radius_admin.remove_server(args.name, actor=actor)
    print(f"removed RADIUS server {args.name}")
    if registered and not radius_admin.list_servers():
        print(
            f"warning: no RADIUS server is left; {registered} user(s) with RADIUS registered "
            "must use another method",
            file=sys.stderr,
        )
    return 0


def cmd_set_username(args: argparse.Namespace, actor: Any) -> int:
    """Map a user to a RADIUS username, or back to their Sekisho username."""
    from sekisho.directory.services import get_user
    from sekisho.mfa import radius_admin

    if args.clear and args.radius_name:
        raise ConfigError("give a RADIUS username or --clear, not both")
    user = get_user(args.username)
    sent = radius_admin.set_radius_username(user, args.radius_name or "", actor=actor)
    print(f"{user.username} signs in to RADIUS as {sent}")
    return 0


def register(
    sub: Any,
    parser_class: type[argparse.ArgumentParser],
    with_actor: Callable[..., Any],
    *,
    user_actions: Any,
) -> None:
    """Add `radius …`, and `set-radius-username` to the `user` sub-commands."""
    radius = sub.add_parser(
        "radius", help="RADIUS servers for one-time passwords (MFA)"
    ).add_subparsers(dest="action", metavar="ACTION", parser_class=parser_class)
    radius.required = True

    p = radius.add_parser(
        "add", help="add a RADIUS server (shared secret on stdin, never as an argument)"
    )
    p.add_argument("name")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=1812)
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per attempt")
    p.add_argument("--retries", type=int, default=1, help="extra attempts before failover")
    p.set_defaults(func=with_actor(cmd_add))

    p = radius.add_parser("list", help="list RADIUS servers in failover order")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=with_actor(cmd_list))

    p = radius.add_parser("remove", help="remove a RADIUS server")
    p.add_argument("name")
    p.set_defaults(func=with_actor(cmd_remove))

    p = user_actions.add_parser(
        "set-radius-username", help="send another username to RADIUS for this user"
    )
    p.add_argument("username")
    p.add_argument("radius_name", nargs="?", default="", help="empty: the Sekisho username")
    p.add_argument("--clear", action="store_true", help="send the Sekisho username again")
    p.set_defaults(func=with_actor(cmd_set_username))
