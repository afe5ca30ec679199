"""The access decision of the console and the API: one explicit, audited call per request.

Who may do what is ``roles.ROLE_PERMISSIONS``; on top of the role, the console needs MFA
in the session (step-up) for every action and a password typed within the last ten
minutes for sensitive ones (``roles.SENSITIVE``). An API token proves its holder by
itself, so neither applies to it. Every decision, allowed or not, is an ``AdminAccess``
audit record naming the administrator, the permission and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sekisho.admin.roles import SENSITIVE, Permission, Role, allows
from sekisho.audit import records
from sekisho.audit.records import AdminChannel
from sekisho.audit.writer import Actor, RequestContext, emit
from sekisho.clock import SYSTEM_CLOCK, Clock
from sekisho.web.session import REAUTH_SECONDS

ALLOWED = "allowed"
NOT_ADMINISTRATOR = "not_administrator"
ROLE_REFUSED = "role_refused"
STEP_UP_REQUIRED = "step_up_required"
REAUTH_REQUIRED = "reauthentication_required"


@dataclass(frozen=True)
class Principal:
    """Someone acting on the console or the API: their actor name, face and roles."""

    name: str
    channel: AdminChannel
    roles: frozenset[Role]
    context: RequestContext = field(default_factory=lambda: RequestContext(source_ip=""))

    def actor(self) -> Actor:
        """The audit trail's actor for changes this principal makes."""
        return Actor(name=self.name, context=self.context, channel=self.channel)


@dataclass(frozen=True)
class AccessDecision:
    """Allowed or not, and why (a stable reason code)."""

    allowed: bool
    reason: str
    permission: Permission


def decide(
    principal: Principal,
    permission: Permission,
    *,
    mfa: bool = False,
    reauth_age: float | None = None,
) -> AccessDecision:
    """The decision alone, without side effects (the authorization matrix tests read it)."""
    if not principal.roles:
        return AccessDecision(False, NOT_ADMINISTRATOR, permission)
    if not allows(principal.roles, permission):
        return AccessDecision(False, ROLE_REFUSED, permission)
    if principal.channel is AdminChannel.WEB:
        if not mfa:
            return AccessDecision(False, STEP_UP_REQUIRED, permission)
        if permission in SENSITIVE and (reauth_age is None or reauth_age >= REAUTH_SECONDS):
            return AccessDecision(False, REAUTH_REQUIRED, permission)
    return AccessDecision(True, ALLOWED, permission)


def authorize(
    principal: Principal,
    permission: Permission,
    *,
    mfa: bool = False,
    reauth_age: float | None = None,
    resource: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> AccessDecision:
    """Decide one console or API request and write its ``AdminAccess`` audit record.

    ``mfa``: the console session passed a second factor; ``reauth_age``: seconds since
    the password was typed again (None: never in this session); ``resource``: what the
    request names (a path), for the record.
    """
    decision = decide(principal, permission, mfa=mfa, reauth_age=reauth_age)
    emit(
        records.admin_access(
            actor=principal.name,
            channel=principal.channel,
            permission=permission.value,
            allowed=decision.allowed,
            reason=decision.reason,
            roles=sorted(role.value for role in principal.roles),
            read_only=permission.read_only,
            resource=resource,
            source_ip=principal.context.source_ip,
            user_agent=principal.context.user_agent,
            now=clock.now(),
        )
    )
    return decision


def refusal(
    principal: Principal,
    *,
    reason: str,
    permission: str = "",
    resource: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    """Record a request refused before any permission could be checked (bad token, rate)."""
    emit(
        records.admin_access(
            actor=principal.name,
            channel=principal.channel,
            permission=permission or "unknown",
            allowed=False,
            reason=reason,
            roles=sorted(role.value for role in principal.roles),
            read_only=True,
            resource=resource,
            source_ip=principal.context.source_ip,
            user_agent=principal.context.user_agent,
            now=clock.now(),
        )
    )
