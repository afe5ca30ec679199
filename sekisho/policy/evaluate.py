"""Evaluate a request against identity, resource, boundary, session and SCP policies.

IAM User Guide, "Policy evaluation logic" ("Determining whether a request is allowed or
denied within an account"): an applicable explicit Deny in any policy denies; SCPs present
and none allows denies; a same-account resource-based policy that names the caller itself
(user, role session, federated user session, or everyone) allows; no identity-based Allow
denies; a permissions boundary or session policy present and not allowing denies; else
allow. Trust policies must allow explicitly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sekisho.policy.codegen import Outcomes, compile_decider
from sekisho.policy.context import Request
from sekisho.policy.document import MatchedStatement, Policy, Statement
from sekisho.policy.explain import (
    STAGE_ALLOW,
    STAGE_BOUNDARY,
    STAGE_DENY,
    STAGE_FEDERATED,
    STAGE_IDENTITY,
    STAGE_NO_PERMISSION,
    STAGE_RESOURCE,
    STAGE_RESOURCE_ALLOW,
    STAGE_ROOT,
    STAGE_SCP,
    STAGE_SESSION,
    STAGE_TRUST,
    Decision,
)
from sekisho.policy.matching import (
    MATCH_ACCOUNT,
    MATCH_DIRECT,
    MATCH_EVERYONE,
    MATCH_ROLE,
    SEKISHO_ARN_PREFIX,
    account_of,
    expand_sekisho_arn,
    identify,
    parse_arn,
)

# "No permissions are required to perform this operation. If an administrator attaches a
# policy to your identity that explicitly denies access to the sts:GetCallerIdentity
# action, you can still perform this operation" (STS API Reference, GetCallerIdentity);
# GetSessionToken likewise: "No permissions are required for users to perform this
# operation ... You cannot use policies to control authentication operations".
NO_PERMISSION_ACTIONS = frozenset({"sts:getcalleridentity", "sts:getsessiontoken"})


def needs_no_permission(action: str) -> bool:
    """Whether AWS answers ``action`` for any authenticated caller, whatever the policies say."""
    return action.lower() in NO_PERMISSION_ACTIONS


def _applicable(
    policies: Sequence[Policy], request: Request, effect: int
) -> list[MatchedStatement]:
    """Every applicable Deny (effect 0), or the first applicable Allow (effect 1)."""
    found: list[MatchedStatement] = []
    action = request.action
    for policy in policies:
        for statement in policy.index.lookup(action)[effect]:
            if statement.check(request):
                found.append(statement.matched)
                if effect == 1:
                    return found
    return found


def _is_root(principal: str) -> bool:
    # Cheap test first: only an account id or an ARN ending in :root can be the root user.
    if not (principal.endswith(":root") or principal.isdigit()):
        return False
    caller = identify(principal, None)
    return caller.kind == "aws" and caller.arn is None and caller.account is not None


def evaluate(  # not keyword-only: CPython fills keyword-only defaults by dict lookups
    request: Request,
    identity_policies: Sequence[Policy] = (),
    resource_policy: Policy | None = None,
    permission_boundary: Policy | None = None,
    session_policy: Policy | None = None,
    scps: Sequence[Policy] = (),
) -> Decision:
    """Decide a request the way AWS does within an account (call it with keywords).

    Args:
        request: the action, resource, context and caller.
        identity_policies: the caller's identity-based policies (managed and inline).
        resource_policy: the resource's resource-based policy, if any (kind RESOURCE).
            Cross-account rules (both sides must allow) apply only when it is given and
            the caller's account differs from the account in the resource ARN.
        permission_boundary: the caller's permissions boundary, if any.
        session_policy: the session policy passed when the session was created, if any.
        scps: the service control policies that apply to the caller's account.

    Returns:
        A Decision; its trace and explanation are computed when first read.
    """
    if (
        resource_policy is None
        and permission_boundary is None
        and session_policy is None
        and not scps
    ):
        # Identity policies alone (the common case): one compiled decision per policy set
        # and action, once the set has decided that action before.
        decider = (
            identity_policies[0].decider if len(identity_policies) == 1 else None
        ) or _decider(identity_policies)
        decide = decider.compiled_get(request.action)
        if decide is not None:
            return decide(request)
        return decider.decide(request)
    if request.resource.startswith(SEKISHO_ARN_PREFIX):
        request = request._replace(resource=expand_sekisho_arn(request.resource))
    if needs_no_permission(request.action):
        inputs = (
            STAGE_NO_PERMISSION,
            request,
            identity_policies,
            resource_policy,
            permission_boundary,
            session_policy,
            scps,
        )
        return Decision("Allow", (), inputs)
    denied, allowed = _identity_pass(request, identity_policies)
    return _layered(
        request,
        denied,
        allowed,
        identity_policies,
        resource_policy,
        permission_boundary,
        session_policy,
        scps,
    )


def _identity_pass(
    request: Request, identity_policies: Sequence[Policy]
) -> tuple[list[MatchedStatement] | None, MatchedStatement | None]:
    """One pass over the identity policies: every applicable Deny, the first applicable Allow.

    An ExplicitDeny names every Deny; one Allow suffices (the trace lists the others). The
    index hands over only the statements whose Action matches.
    """
    action = request.action
    denied: list[MatchedStatement] | None = None
    allowed: MatchedStatement | None = None
    for policy in identity_policies:
        index = policy.index
        deny, allow = index._cache.get(action) or index.lookup(action)
        for statement in deny:
            if statement.check(request):
                if denied is None:
                    denied = []
                denied.append(statement.matched)
        if allowed is None and denied is None:
            for statement in allow:
                if statement.check(request):
                    allowed = statement.matched
                    break
    return denied, allowed


def _identity_only(request: Request, identity_policies: Sequence[Policy]) -> Decision:
    """The decision for identity policies alone, statement by statement (not compiled)."""
    if request.resource.startswith(SEKISHO_ARN_PREFIX):
        request = request._replace(resource=expand_sekisho_arn(request.resource))
    if needs_no_permission(request.action):
        inputs = (STAGE_NO_PERMISSION, request, identity_policies, None, None, None, ())
        return Decision("Allow", (), inputs)
    denied, allowed = _identity_pass(request, identity_policies)
    principal = request.principal
    if denied is not None:
        inputs = (STAGE_DENY, request, identity_policies, None, None, None, ())
        return Decision("ExplicitDeny", tuple(denied), inputs)
    if allowed is None:
        if principal is not None and _is_root(principal):
            # "all requests are implicitly denied with the exception of the AWS account root
            # user, which has full access."
            inputs = (STAGE_ROOT, request, identity_policies, None, None, None, ())
            return Decision("Allow", (), inputs)
        inputs = (STAGE_IDENTITY, request, identity_policies, None, None, None, ())
        return Decision("ImplicitDeny", (), inputs)
    if principal is not None and ":federated-user/" in principal:
        # A federated user session (GetFederationToken) without a session policy is denied;
        # a role session without one is allowed ("Session policies" step).
        inputs = (STAGE_FEDERATED, request, identity_policies, None, None, None, ())
        return Decision("ImplicitDeny", (), inputs)
    inputs = (STAGE_ALLOW, request, identity_policies, None, None, None, ())
    return Decision("Allow", (allowed,), inputs)


# --- compiled decisions per policy set ------------------------------------------------------

# An action is compiled for a policy set once the set has decided it this many times:
# compiling costs as much as a few hundred decisions save (for one statement and for a
# hundred alike: both grow with the statements), so it pays only for actions that keep
# coming back, as the IdP's sign-in and launch decisions do; policies parsed for a single
# request (the emulator reads a role's policies per call) never pay it.
_COMPILE_AFTER = 256
_ACTIONS_PER_SET = 4096
_SETS_LIMIT = 256

_OUTCOMES = Outcomes(
    decision=Decision,
    deny=STAGE_DENY,
    allow=STAGE_ALLOW,
    root=STAGE_ROOT,
    identity=STAGE_IDENTITY,
    federated=STAGE_FEDERATED,
    no_permission=STAGE_NO_PERMISSION,
    is_root=_is_root,
    expand=lambda request: request._replace(resource=expand_sekisho_arn(request.resource)),
    sekisho_prefix=SEKISHO_ARN_PREFIX,
)


class PolicySetDecider:
    """The identity policies of one caller, compiled into one decision function per action."""

    __slots__ = ("compiled", "compiled_get", "policies", "seen")

    def __init__(self, policies: tuple[Policy, ...]) -> None:
        self.policies = policies
        self.compiled: dict[str, Callable[[Request], Decision]] = {}
        # The bound method, looked up once: the hot path calls it per decision.
        self.compiled_get = self.compiled.get
        self.seen: dict[str, int] = {}

    def decide(self, request: Request) -> Decision:
        """Decide statement by statement; compile the action once it comes back."""
        action = request.action
        count = self.seen.get(action, 0) + 1
        if count < _COMPILE_AFTER:
            if len(self.seen) >= _ACTIONS_PER_SET:
                self.seen.clear()
            self.seen[action] = count
            return _identity_only(request, self.policies)
        self.seen.pop(action, None)
        return self.compile(action)(request)

    def compile(self, action: str) -> Callable[[Request], Decision]:
        """The decision function of ``action`` (both paths give the same Decision)."""
        denies: list[Statement] = []
        allows: list[Statement] = []
        for policy in self.policies:
            deny, allow = policy.index.lookup(action)
            denies.extend(deny)
            allows.extend(allow)
        decide = compile_decider(
            action,
            denies,
            allows,
            self.policies,
            _OUTCOMES,
            no_permission=needs_no_permission(action),
        )
        if len(self.compiled) >= _ACTIONS_PER_SET:
            self.compiled.clear()
        self.compiled[action] = decide  # type: ignore[assignment]
        return decide  # type: ignore[return-value]


_SETS: dict[tuple[int, ...], PolicySetDecider] = {}


def _decider(policies: Sequence[Policy]) -> PolicySetDecider:
    """The decider of a policy set: kept on the policy for one, in a bounded table for more."""
    if len(policies) == 1:
        only = policies[0]
        found = only.decider
        if found is None:
            found = PolicySetDecider((only,))
            object.__setattr__(only, "decider", found)
        return found  # type: ignore[no-any-return]
    key = tuple(map(id, policies))
    known = _SETS.get(key)
    if known is not None and all(a is b for a, b in zip(known.policies, policies, strict=True)):
        return known
    made = PolicySetDecider(tuple(policies))
    if len(_SETS) >= _SETS_LIMIT:
        _SETS.clear()
    _SETS[key] = made
    return made


def _layered(
    request: Request,
    identity_denied: list[MatchedStatement] | None,
    identity_allowed: MatchedStatement | None,
    identity_policies: Sequence[Policy],
    resource_policy: Policy | None,
    permission_boundary: Policy | None,
    session_policy: Policy | None,
    scps: Sequence[Policy],
) -> Decision:
    """The full evaluation, when SCPs, a resource policy, a boundary or a session policy apply."""

    def inputs(
        stage: str,
    ) -> tuple[
        str,
        Request,
        Sequence[Policy],
        Policy | None,
        Policy | None,
        Policy | None,
        Sequence[Policy],
    ]:
        return (
            stage,
            request,
            identity_policies,
            resource_policy,
            permission_boundary,
            session_policy,
            scps,
        )

    def single(policy: Policy | None) -> tuple[Policy, ...]:
        return () if policy is None else (policy,)

    denied = [
        *_applicable(scps, request, 0),
        *_applicable(single(resource_policy), request, 0),
        *(identity_denied or ()),
        *_applicable(single(permission_boundary), request, 0),
        *_applicable(single(session_policy), request, 0),
    ]
    if denied:
        return Decision("ExplicitDeny", tuple(denied), inputs(STAGE_DENY))

    matched: list[MatchedStatement] = []
    if scps:
        scp_allows = _applicable(scps, request, 1)
        if not scp_allows:
            return Decision("ImplicitDeny", (), inputs(STAGE_SCP))
        matched.extend(scp_allows)

    identity_needed = True
    if resource_policy is not None:
        grants = _resource_grants(resource_policy, request)
        if _cross_account(request):
            # Across accounts both sides must allow ("Cross-account policy evaluation logic").
            if not grants:
                return Decision("ImplicitDeny", (), inputs(STAGE_RESOURCE))
            matched.extend(m for m, _ in grants)
        elif grants:
            kinds = {kind for _, kind in grants}
            if MATCH_DIRECT in kinds or MATCH_EVERYONE in kinds:
                # Granted to the caller itself: implicit denies in identity-based policies,
                # the boundary or the session policy do not impact the decision.
                matched.extend(m for m, kind in grants if kind in (MATCH_DIRECT, MATCH_EVERYONE))
                return Decision("Allow", tuple(matched), inputs(STAGE_RESOURCE_ALLOW))
            if MATCH_ROLE in kinds:
                # Granted to the role: still limited by the boundary and the session policy.
                matched.extend(m for m, kind in grants if kind == MATCH_ROLE)
                identity_needed = False
            # Granted to the account: the account's identity-based policies must allow.

    principal = request.principal
    if identity_needed:
        if principal is not None and _is_root(principal):
            return Decision("Allow", tuple(matched), inputs(STAGE_ROOT))
        if identity_allowed is None:
            return Decision("ImplicitDeny", (), inputs(STAGE_IDENTITY))
        matched.append(identity_allowed)

    if permission_boundary is not None:
        boundary_allows = _applicable((permission_boundary,), request, 1)
        if not boundary_allows:
            return Decision("ImplicitDeny", (), inputs(STAGE_BOUNDARY))
        matched.extend(boundary_allows)

    if session_policy is not None:
        session_allows = _applicable((session_policy,), request, 1)
        if not session_allows:
            return Decision("ImplicitDeny", (), inputs(STAGE_SESSION))
        matched.extend(session_allows)
    elif principal is not None and ":federated-user/" in principal:
        return Decision("ImplicitDeny", (), inputs(STAGE_FEDERATED))

    return Decision("Allow", tuple(matched), inputs(STAGE_ALLOW))


def _resource_grants(policy: Policy, request: Request) -> list[tuple[MatchedStatement, str]]:
    """Applicable Allow statements of a resource policy, with how each names the caller."""
    grants: list[tuple[MatchedStatement, str]] = []
    for statement in policy.index.lookup(request.action)[1]:
        if not statement.check(request):
            continue
        if statement.principal is not None:
            how = statement.principal.match(request.principal, request.principal_account)
            grants.append((statement.matched, how or MATCH_ACCOUNT))
        elif statement.not_principal is not None:
            # NotPrincipal with Allow grants to everyone not listed.
            grants.append((statement.matched, MATCH_EVERYONE))
        else:
            # Not a resource-based policy (no principal): read as delegating to the account.
            grants.append((statement.matched, MATCH_ACCOUNT))
    return grants


def _cross_account(request: Request) -> bool:
    """True when the caller's account and the resource ARN's account are known and differ."""
    caller_account = request.principal_account or account_of(request.principal)
    parts = parse_arn(request.resource)
    resource_account = parts[3] if parts is not None else ""
    return bool(caller_account and resource_account and caller_account != resource_account)


def evaluate_trust(*, trust_policy: Policy, request: Request) -> Decision:
    """Decide whether a principal may assume a role: the trust policy must allow explicitly.

    IAM User Guide, "Policy evaluation logic": "IAM role trust policies ... must explicitly
    allow access for principals". The request's resource is not compared (trust policies
    have no Resource element).

    Args:
        trust_policy: the role's trust policy (kind TRUST).
        request: action (e.g. sts:AssumeRoleWithSAML), principal (e.g. the SAML provider
            ARN) and context (e.g. SAML:aud).

    Returns:
        A Decision.
    """
    inputs = (STAGE_TRUST, request, (trust_policy,), None, None, None, ())
    deny, allow = trust_policy.index.lookup(request.action)
    denied = tuple(s.matched for s in deny if s.check(request))
    if denied:
        return Decision("ExplicitDeny", denied, inputs)
    allowed = next((s.matched for s in allow if s.check(request)), None)
    if allowed is not None:
        return Decision("Allow", (allowed,), inputs)
    return Decision("ImplicitDeny", (), inputs)
