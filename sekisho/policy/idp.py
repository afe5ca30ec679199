"""Policies at the IdP: stored documents, attachments, and the SignIn / LaunchApplication decisions.

The IAM policy language governs two actions on Sekisho's own resources:
``sekisho:SignIn`` on ``arn:sekisho:::user/<username>`` and ``sekisho:LaunchApplication``
on ``arn:sekisho:::application/<name>``. Policies attached to the IdP, to the user, to
the user's groups and (for launches) to the application are the identity policies of one
evaluation; as in IAM, anything not explicitly allowed is denied.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q

from sekisho.audit import records
from sekisho.audit.writer import RequestContext, emit, identity_store_arn
from sekisho.clock import SYSTEM_CLOCK, Clock
from sekisho.directory.models import Group, User
from sekisho.directory.services import Actor, admin_audit
from sekisho.errors import SekishoError
from sekisho.policy import (
    Decision,
    Policy,
    PolicyKind,
    Request,
    evaluate,
    parse_policy,
)
from sekisho.policy import (
    RequestContext as PolicyContext,
)
from sekisho.policy.models import PolicyAttachment, StoredPolicy
from sekisho.saml.models import Application

SIGN_IN = "sekisho:SignIn"
LAUNCH_APPLICATION = "sekisho:LaunchApplication"
ALLOW_ALL_NAME = "AllowAll"  # created by migration policy/0002 on a fresh install
_POLICY_NAME = re.compile(r"^[A-Za-z0-9+=,.@_-]{1,128}$")


class IdpPolicyError(SekishoError):
    """A stored-policy operation that cannot be done (unknown name, still attached, …)."""

    code = "idp_policy_error"


def user_arn(username: str) -> str:
    """The resource ARN of a user for sekisho:SignIn."""
    return f"arn:sekisho:::user/{username}"


def application_arn(name: str) -> str:
    """The resource ARN of an application for sekisho:LaunchApplication."""
    return f"arn:sekisho:::application/{name}"


# ------------------------------------------------------------------ stored policies


def get_policy(name: str) -> StoredPolicy:
    """The stored policy with this name, or an error naming it."""
    stored = StoredPolicy.objects.filter(name=name).first()
    if stored is None:
        raise IdpPolicyError(f"no policy named {name!r}", code="no_such_policy")
    return stored


def put_policy(
    name: str,
    document: str,
    *,
    description: str = "",
    actor: Actor,
    clock: Clock = SYSTEM_CLOCK,
) -> tuple[StoredPolicy, bool]:
    """Create or replace a policy after full validation; returns (policy, created)."""
    if not _POLICY_NAME.match(name):
        raise IdpPolicyError(
            f"policy names are 1-128 letters, digits and +=,.@_-, got {name!r}",
            code="invalid_policy_name",
        )
    parse_policy(document, kind=PolicyKind.IDENTITY, name=name)  # raises PolicyError
    with transaction.atomic():
        stored, created = StoredPolicy.objects.select_for_update().get_or_create(
            name=name, defaults={"document": document, "description": description}
        )
        if not created:
            stored.document = document
            if description:
                stored.description = description
            stored.save()
    admin_audit(actor, "PutPolicy", {"policyName": name, "created": created}, clock)
    return stored, created


def delete_policy(name: str, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> None:
    """Delete a policy that is attached nowhere (IAM's DeleteConflict otherwise)."""
    stored = get_policy(name)
    count = stored.attachments.count()
    if count:
        raise IdpPolicyError(
            f"policy {name!r} is still attached {count} time(s); detach it first",
            code="delete_conflict",
        )
    stored.delete()
    admin_audit(actor, "DeletePolicy", {"policyName": name}, clock)


@dataclass(frozen=True)
class Target:
    """Where a policy is attached: the IdP, a group, a user or an application."""

    kind: str
    user: User | None = None
    group: Group | None = None
    application: Application | None = None

    def describe(self) -> str:
        """'the identity provider', 'group agents', …"""
        if self.user is not None:
            return f"user {self.user.username}"
        if self.group is not None:
            return f"group {self.group.name}"
        if self.application is not None:
            return f"application {self.application.name}"
        return "the identity provider"

    def filter(self) -> Q:
        """The attachments of this target."""
        return Q(target=self.kind, user=self.user, group=self.group, application=self.application)


def attach(name: str, target: Target, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> bool:
    """Attach a policy; returns False when it was already attached there."""
    stored = get_policy(name)
    try:
        with transaction.atomic():
            PolicyAttachment.objects.create(
                policy=stored,
                target=target.kind,
                user=target.user,
                group=target.group,
                application=target.application,
            )
    except IntegrityError:
        return False
    admin_audit(actor, "AttachPolicy", {"policyName": name, "target": target.describe()}, clock)
    return True


def detach(name: str, target: Target, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> bool:
    """Detach a policy; returns False when it was not attached there."""
    stored = get_policy(name)
    deleted, _ = PolicyAttachment.objects.filter(target.filter(), policy=stored).delete()
    if deleted:
        admin_audit(actor, "DetachPolicy", {"policyName": name, "target": target.describe()}, clock)
    return deleted > 0


def describe_policy(stored: StoredPolicy) -> dict[str, Any]:
    """A stored policy with its document and attachments, for `sekisho policy get`."""
    attachments = stored.attachments.select_related("user", "group", "application")
    return {
        "name": stored.name,
        "description": stored.description,
        "document": json.loads(stored.document),
        "attached_to": sorted(
            Target(a.target, a.user, a.group, a.application).describe() for a in attachments
        ),
        "updated_at": stored.updated_at,
    }


# ------------------------------------------------------------------ decisions


@lru_cache(maxsize=512)
def _compiled(name: str, document: str) -> Policy:
    # Keyed by the text itself: an edited policy compiles afresh on every worker.
    return parse_policy(document, kind=PolicyKind.IDENTITY, name=name)


def policies_for(user: User, application: Application | None = None) -> list[Policy]:
    """The identity policies of one evaluation: IdP, user, the user's groups, the app."""
    scope = Q(target=PolicyAttachment.TARGET_IDP) | Q(target="user", user=user)
    scope |= Q(target="group", group__members=user)
    if application is not None:
        scope |= Q(target="application", application=application)
    names = (
        PolicyAttachment.objects.filter(scope)
        .values_list("policy__name", "policy__document")
        .distinct()
        .order_by("policy__name")
    )
    return [_compiled(name, document) for name, document in names]


@dataclass(frozen=True)
class AccessFacts:
    """What is known about one access attempt, the request context's raw material."""

    source_ip: str
    now: datetime
    secure_transport: bool
    mfa_present: bool
    mfa_method: str | None = None


def request_context(
    user: User, facts: AccessFacts, *, application: Application | None = None
) -> PolicyContext:
    """The condition keys Sekisho supplies (IAM names where IAM has one)."""
    values: dict[str, Any] = {
        "aws:SourceIp": facts.source_ip,
        "aws:CurrentTime": facts.now,
        "aws:EpochTime": int(facts.now.timestamp()),
        "aws:SecureTransport": facts.secure_transport,
        "aws:MultiFactorAuthPresent": facts.mfa_present,
        "aws:username": user.username,
        "aws:userid": str(user.uid),
        "aws:PrincipalTag/username": user.username,
        "aws:PrincipalTag/email": user.email,
        "aws:PrincipalTag/displayName": user.display_name,
        "sekisho:Groups": list(user.group_names()),
    }
    if facts.mfa_method:
        values["sekisho:MfaMethod"] = facts.mfa_method
    if application is not None:
        values["sekisho:Application"] = application.name
    return PolicyContext.from_mapping(values)


def decide(
    action: str, user: User, facts: AccessFacts, *, application: Application | None = None
) -> Decision:
    """Evaluate one IdP action for a user; pure of side effects (the simulator uses it too)."""
    resource = application_arn(application.name) if application else user_arn(user.username)
    request = Request(
        action=action,
        resource=resource,
        context=request_context(user, facts, application=application),
        principal=user_arn(user.username),
    )
    return evaluate(request=request, identity_policies=policies_for(user, application))


def authorize(
    action: str,
    user: User,
    facts: AccessFacts,
    *,
    context: RequestContext,
    application: Application | None = None,
    workflow_id: str | None = None,
) -> Decision:
    """The policy decision of a sign-in or launch; a refusal is audited with its explanation."""
    decision = decide(action, user, facts, application=application)
    if decision.decision != "Allow":
        emit(
            records.policy_denied(
                action=action,
                resource=application_arn(application.name)
                if application
                else user_arn(user.username),
                decision=decision.decision,
                explanation=decision.explanation,
                matched=[
                    {"policy": m.policy, "sid": m.sid, "effect": m.effect} for m in decision.matched
                ],
                user_uid=str(user.uid),
                identity_store_arn=identity_store_arn(),
                workflow_id=workflow_id,
                application_name=application.name if application else None,
                session_id=context.session_id,
                source_ip=context.source_ip,
                user_agent=context.user_agent,
                now=facts.now,
            )
        )
    return decision


def mfa_method(methods: Sequence[str]) -> str | None:
    """The second factor of a completed sign-in (e.g. TOTP), or None."""
    others = [m for m in methods if m != "PASSWORD"]
    return others[-1] if others else None
