"""`sekisho policy …`: validate and simulate policy files, and manage the IdP's own policies."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

MAX_POLICY_FILE_BYTES = 1024 * 1024


class PolicyCliError(Exception):
    """A one-line failure of a policy command."""


def _read(path: str) -> str:
    """A policy file's text (or stdin for '-'), refusing huge or undecodable files."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_POLICY_FILE_BYTES + 1)
        else:
            with open(path, "rb") as handle:
                data = handle.read(MAX_POLICY_FILE_BYTES + 1)
    except OSError as exc:
        raise PolicyCliError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_POLICY_FILE_BYTES:
        raise PolicyCliError(f"{path} is larger than {MAX_POLICY_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyCliError(f"{path} is not UTF-8 text") from None


def _load(path: str, kind: Any) -> Any:
    from sekisho.policy import parse_policy

    return parse_policy(_read(path), kind=kind, name=Path(path).name if path != "-" else "stdin")


def parse_context(items: Iterable[str]) -> dict[str, Any]:
    """`KEY=VALUE` pairs; a repeated key or a JSON list value makes a multi-valued key."""
    context: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise PolicyCliError(f"--context takes KEY=VALUE, got {item!r}")
        key = key.strip()
        parsed: Any = value
        if value.startswith("["):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError:
                raise PolicyCliError(f"--context {key}: {value!r} is not a JSON list") from None
            if not isinstance(parsed, list) or not all(isinstance(v, str) for v in parsed):
                raise PolicyCliError(f"--context {key}: expected a JSON list of strings")
        if key in context:
            previous = context[key]
            context[key] = [*(previous if isinstance(previous, list) else [previous]), parsed]
        else:
            context[key] = parsed
    return context


def describe(decision: Any) -> str:
    """A decision and every statement's fate, in plain words."""
    lines = [f"Decision: {decision.decision}"]
    if decision.matched:
        lines.append("Decisive statements:")
        for m in decision.matched:
            label = f"Sid {m.sid}" if m.sid else f"statement #{m.index}"
            lines.append(f"  {m.policy}: {label} ({m.effect})")
    else:
        lines.append("Decisive statements: none")
    lines.append(f"Why: {decision.explanation}")
    if decision.trace:
        lines.append("Statements considered:")
        for t in decision.trace:
            label = f"Sid {t.sid}" if t.sid else f"statement #{t.index}"
            verdict = "applies" if t.applied else "does not apply"
            reasons = "; ".join(t.reasons)
            lines.append(
                f"  {t.policy} {label} ({t.effect}): {verdict}"
                + (f": {reasons}" if reasons else "")
            )
    return "\n".join(lines)


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate policy files; every problem of every file is listed; exit 1 if any."""
    from sekisho.policy import PolicyError, PolicyKind

    kind = PolicyKind[args.kind.upper()]
    failed = 0
    for path in args.files:
        try:
            _load(path, kind)
        except PolicyError as exc:
            failed += 1
            for problem in exc.problems:
                print(f"{path}: {problem.path}: {problem.message}")
        except PolicyCliError as exc:
            failed += 1
            print(f"{path}: {exc}")
        else:
            print(f"{path}: valid")
    return 1 if failed else 0


def _simulate_files(args: argparse.Namespace) -> Any:
    from sekisho.policy import PolicyKind, Request, RequestContext, evaluate

    if not args.action or not args.resource:
        raise PolicyCliError("simulate needs --action and --resource (or --batch, or --idp)")
    if not args.policy and not args.resource_policy:
        raise PolicyCliError("simulate needs at least one --policy or --resource-policy")
    context = parse_context(args.context or [])
    request = Request(
        action=args.action,
        resource=args.resource,
        context=RequestContext.from_mapping(context),
        principal=args.principal,
    )
    return evaluate(
        request=request,
        identity_policies=[_load(p, PolicyKind.IDENTITY) for p in args.policy or []],
        resource_policy=_load(args.resource_policy, PolicyKind.RESOURCE)
        if args.resource_policy
        else None,
        permission_boundary=_load(args.boundary, PolicyKind.BOUNDARY) if args.boundary else None,
        session_policy=_load(args.session_policy, PolicyKind.SESSION)
        if args.session_policy
        else None,
        scps=[_load(p, PolicyKind.SCP) for p in args.scp or []],
    )


def simulate_case(case: Any) -> dict[str, Any]:
    """One --batch line: a JSON object in, the decision (or an error) out."""
    from sekisho.policy import (
        PolicyError,
        PolicyKind,
        Request,
        RequestContext,
        evaluate,
        parse_policy,
    )

    if not isinstance(case, dict):
        return {"error": "expected a JSON object per line"}
    unknown = set(case) - {
        "identity_policies",
        "resource_policy",
        "permission_boundary",
        "session_policy",
        "scps",
        "principal",
        "action",
        "resource",
        "context",
    }
    if unknown:
        return {"error": f"unknown field(s): {', '.join(sorted(unknown))}"}
    action, resource = case.get("action"), case.get("resource")
    if not isinstance(action, str) or not isinstance(resource, str):
        return {"error": 'expected "action" and "resource" as strings'}
    principal = case.get("principal")
    if principal is not None and not isinstance(principal, str):
        return {"error": 'expected "principal" as a string or null'}
    context = case.get("context") or {}
    if not isinstance(context, dict):
        return {"error": 'expected "context" as an object'}
    identity = case.get("identity_policies") or []
    scps = case.get("scps") or []
    if not isinstance(identity, list) or not isinstance(scps, list):
        return {"error": 'expected "identity_policies" and "scps" as lists'}

    def one(doc: Any, kind: Any, name: str) -> Any:
        return None if doc is None else parse_policy(doc, kind=kind, name=name)

    try:
        decision = evaluate(
            request=Request(
                action=action,
                resource=resource,
                context=RequestContext.from_mapping(context),
                principal=principal,
            ),
            identity_policies=[
                one(d, PolicyKind.IDENTITY, f"identity_policies[{i}]")
                for i, d in enumerate(identity)
            ],
            resource_policy=one(
                case.get("resource_policy"), PolicyKind.RESOURCE, "resource_policy"
            ),
            permission_boundary=one(
                case.get("permission_boundary"), PolicyKind.BOUNDARY, "permission_boundary"
            ),
            session_policy=one(case.get("session_policy"), PolicyKind.SESSION, "session_policy"),
            scps=[one(d, PolicyKind.SCP, f"scps[{i}]") for i, d in enumerate(scps)],
        )
    except PolicyError as exc:
        return {"error": "; ".join(f"{p.path}: {p.message}" for p in exc.problems) or str(exc)}
    except (TypeError, ValueError) as exc:
        return {"error": f"bad request context: {exc}"}
    result: dict[str, Any] = decision.to_json()
    return result


def run_batch(source: TextIO, out: TextIO) -> int:
    """JSON lines in, one JSON line out per case, in order; bad lines answer with an error."""
    for line in source:
        if not line.strip():
            continue
        try:
            case = json.loads(line)
        except json.JSONDecodeError as exc:
            result: dict[str, Any] = {"error": f"not JSON: {exc.msg} at column {exc.colno}"}
        else:
            result = simulate_case(case)
        out.write(json.dumps(result, ensure_ascii=False) + "\n")
        out.flush()
    return 0


def _simulate_idp(args: argparse.Namespace) -> Any:
    import ipaddress

    from sekisho.admin import policies
    from sekisho.admin.errors import InvalidInput, NotFound

    if not args.user or not args.source_ip:
        raise PolicyCliError("--idp needs --user and --source-ip")
    try:
        ipaddress.ip_address(args.source_ip)
    except ValueError:
        raise PolicyCliError(f"--source-ip must be an IP address, got {args.source_ip!r}") from None
    try:
        return policies.simulate(
            username=args.user,
            source_ip=args.source_ip,
            application=args.app,
            mfa=args.mfa,
            at=datetime.now(UTC),
        )
    except (InvalidInput, NotFound) as exc:
        raise PolicyCliError(str(exc)) from None


def cmd_simulate(args: argparse.Namespace) -> int:
    """Evaluate one request (files or the IdP's own policies) and explain the decision."""
    if args.batch:
        if args.batch == "-":
            return run_batch(sys.stdin, sys.stdout)
        try:
            with open(args.batch, encoding="utf-8") as handle:
                return run_batch(handle, sys.stdout)
        except OSError as exc:
            raise PolicyCliError(f"cannot read {args.batch}: {exc.strerror}") from None
    decision = _simulate_idp(args) if args.idp else _simulate_files(args)
    if args.json:
        print(json.dumps(decision.to_json(), ensure_ascii=False))
    else:
        print(describe(decision))
    return 0


def _target(args: argparse.Namespace) -> Any:
    from sekisho.access.policies import Target
    from sekisho.directory.services import get_group, get_user
    from sekisho.saml import services as saml

    if args.idp:
        return Target.idp()
    if args.group:
        return Target.for_group(get_group(args.group))
    if args.user:
        return Target.for_user(get_user(args.user))
    return Target.for_application(saml.get_app(args.app).name)


def cmd_put(args: argparse.Namespace, actor: Any) -> int:
    """Create or replace an IdP policy from a file."""
    from sekisho.access import policies

    _, created = policies.put_policy(
        args.name, _read(args.file), description=args.description or "", actor=actor
    )
    print(f"{'created' if created else 'updated'} policy {args.name}")
    return 0


def cmd_get(args: argparse.Namespace, actor: Any) -> int:
    """Print an IdP policy with its attachments."""
    from sekisho.access import policies

    print(
        json.dumps(policies.describe_policy(policies.get_policy(args.name)), indent=2, default=str)
    )
    return 0


def cmd_list(args: argparse.Namespace, actor: Any) -> int:
    """List the IdP's policies and where they are attached."""
    from sekisho.access import policies

    for stored in policies.list_policies():
        attached = policies.describe_policy(stored)["attached_to"]
        print(f"{stored.name}: {', '.join(attached) if attached else '(not attached)'}")
    return 0


def cmd_attach(attach: bool) -> Callable[[argparse.Namespace, Any], int]:
    """attach / detach."""

    def run(args: argparse.Namespace, actor: Any) -> int:
        from sekisho.access import policies

        target = _target(args)
        if attach:
            done = policies.attach(args.name, target, actor=actor)
            print(
                f"attached {args.name} to {target.describe()}"
                if done
                else f"{args.name} was already attached to {target.describe()}"
            )
        else:
            done = policies.detach(args.name, target, actor=actor)
            print(
                f"detached {args.name} from {target.describe()}"
                if done
                else f"{args.name} was not attached to {target.describe()}"
            )
        return 0

    return run


def cmd_delete(args: argparse.Namespace, actor: Any) -> int:
    """Delete an IdP policy that is attached nowhere."""
    from sekisho.access import policies

    policies.delete_policy(args.name, actor=actor)
    print(f"deleted policy {args.name}")
    return 0


def register(
    sub: Any, parser_class: type[argparse.ArgumentParser], with_actor: Callable[..., Any]
) -> None:
    """Add `policy …` to the CLI."""
    policy = sub.add_parser(
        "policy", help="IAM-style policies: validate, simulate, manage"
    ).add_subparsers(dest="action", metavar="ACTION", parser_class=parser_class)
    policy.required = True

    p = policy.add_parser("validate", help="validate policy files (every problem listed)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument(
        "--kind",
        default="identity",
        choices=["identity", "resource", "trust", "boundary", "session", "scp"],
    )
    p.set_defaults(func=cmd_validate, needs_database=False)

    p = policy.add_parser("simulate", help="decide a request and explain why")
    p.add_argument("--policy", action="append", metavar="FILE", help="identity policy (repeatable)")
    p.add_argument("--resource-policy", metavar="FILE")
    p.add_argument("--boundary", metavar="FILE", help="permissions boundary")
    p.add_argument("--session-policy", metavar="FILE")
    p.add_argument("--scp", action="append", metavar="FILE", help="service control policy")
    p.add_argument("--principal", metavar="ARN")
    p.add_argument("--action")
    p.add_argument("--resource", metavar="ARN")
    p.add_argument("--context", action="append", metavar="KEY=VALUE")
    p.add_argument("--json", action="store_true", help="one JSON object instead of prose")
    p.add_argument("--batch", metavar="FILE", help="JSON lines in, JSON lines out ('-' = stdin)")
    p.add_argument("--idp", action="store_true", help="use the IdP's own stored policies")
    p.add_argument("--user", help="with --idp: the user")
    p.add_argument("--app", help="with --idp: the application (else sekisho:SignIn)")
    p.add_argument("--source-ip", help="with --idp: the address to decide for")
    p.add_argument("--mfa", action="store_true", help="with --idp: as if MFA was used")
    p.set_defaults(func=cmd_simulate, needs_database=False)

    p = policy.add_parser("put", help="create or replace an IdP policy from a file")
    p.add_argument("name")
    p.add_argument("file")
    p.add_argument("--description")
    p.set_defaults(func=with_actor(cmd_put))

    for name, func, text in (
        ("get", cmd_get, "show an IdP policy and its attachments"),
        ("delete", cmd_delete, "delete an IdP policy (detach it first)"),
    ):
        p = policy.add_parser(name, help=text)
        p.add_argument("name")
        p.set_defaults(func=with_actor(func))
    p = policy.add_parser("list", help="list the IdP's policies")
    p.set_defaults(func=with_actor(cmd_list))

    for name, attach in (("attach", True), ("detach", False)):
        p = policy.add_parser(name, help=f"{name} an IdP policy")
        p.add_argument("name")
        target = p.add_mutually_exclusive_group(required=True)
        target.add_argument("--idp", action="store_true", help="the whole identity provider")
        target.add_argument("--group")
        target.add_argument("--user")
        target.add_argument("--app")
        p.set_defaults(func=with_actor(cmd_attach(attach)))
