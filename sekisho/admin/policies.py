"""The IdP's policies for administrators: validation with JSON paths, targets, the simulator."""

from __future__ import annotations

import ipaddress
import json
from datetime import datetime

from sekisho.access import decisions as access
from sekisho.access.policies import Target
from sekisho.admin.errors import InvalidInput
from sekisho.admin.users import get_group, get_user
from sekisho.clock import SYSTEM_CLOCK, Clock
from sekisho.policy import Decision, PolicyError, PolicyKind, Problem, parse_policy
from sekisho.saml import errors as saml_errors
from sekisho.saml import services as saml

TARGET_KINDS = ("idp", "user", "group", "application")
MAX_DOCUMENT_CHARS = 100_000


def problems(document: str, *, name: str = "policy") -> list[Problem]:
    """Every problem of a policy document, each with its JSON path (empty: valid)."""
    if len(document) > MAX_DOCUMENT_CHARS:
        return [Problem(path="$", message=f"the document is longer than {MAX_DOCUMENT_CHARS}")]
    try:
        parse_policy(document, kind=PolicyKind.IDENTITY, name=name)
    except PolicyError as exc:
        return list(exc.problems)
    return []


def pretty(document: str) -> str:
    """A stored document indented for reading and editing (as stored when not JSON)."""
    try:
        return json.dumps(json.loads(document), indent=2, ensure_ascii=False)
    except ValueError:
        return document


def target(kind: str, name: str = "") -> Target:
    """Where a policy attaches: the IdP, or a user, group or application by name."""
    if kind == "idp":
        return Target.idp()
    if kind == "user":
        return Target.for_user(get_user(name))
    if kind == "group":
        return Target.for_group(get_group(name))
    if kind == "application":
        try:
            return Target.for_application(saml.get_app(name).name)
        except saml_errors.SamlError as exc:
            raise InvalidInput(str(exc), field="target") from None
    raise InvalidInput(
        f"a target is idp, user, group or application, got {kind[:20]!r}", field="target"
    )


def simulate(
    *,
    username: str,
    source_ip: str,
    application: str | None = None,
    mfa: bool = False,
    at: datetime | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Decision:
    """Would this user, from this address, sign in (or open this application), and why.

    The IdP's own decision (``access.decide``) with the request context a real sign-in
    would have; nothing is audited, nothing changes.
    """
    try:
        ipaddress.ip_address(source_ip)
    except ValueError:
        raise InvalidInput(
            f"source_ip must be an IP address, got {source_ip[:60]!r}", field="source_ip"
        ) from None
    user = get_user(username)
    app = None
    if application:
        try:
            app = saml.get_app(application)
        except saml_errors.SamlError as exc:
            raise InvalidInput(str(exc), field="application") from None
    facts = access.AccessFacts(
        source_ip=source_ip,
        now=at or clock.now(),
        secure_transport=True,
        mfa_present=mfa,
        mfa_method="TOTP" if mfa else None,
    )
    if app is None:
        return access.decide(access.SIGN_IN, user, facts)
    return access.decide(access.LAUNCH_APPLICATION, user, facts, application=app.name)
