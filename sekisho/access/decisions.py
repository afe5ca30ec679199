"""The IdP's access decisions: sekisho:SignIn and sekisho:LaunchApplication, audited.

The IAM policy language governs two actions on Sekisho's own resources:
``sekisho:SignIn`` on ``arn:sekisho:::user/<username>`` and ``sekisho:LaunchApplication``
on ``arn:sekisho:::application/<name>``. Policies attached to the IdP, to the user, to
the user's groups and (for launches) to the application are the identity policies of one
evaluation; as in IAM, anything not explicitly allowed is denied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db import connection

from sekisho.access.models import PolicyAttachment
from sekisho.audit import records
from sekisho.audit.writer import RequestContext, emit, identity_store_arn
from sekisho.directory.models import User
from sekisho.memo import remembered
from sekisho.policy import Decision, Policy, PolicyKind, Request, evaluate, parse_policy
from sekisho.policy import RequestContext as PolicyContext

SIGN_IN = "sekisho:SignIn"
LAUNCH_APPLICATION = "sekisho:LaunchApplication"


def user_arn(username: str) -> str:
    """The resource ARN of a user for sekisho:SignIn."""
    return f"arn:sekisho:::user/{username}"


def application_arn(name: str) -> str:
    """The resource ARN of an application for sekisho:LaunchApplication."""
    return f"arn:sekisho:::application/{name}"


@lru_cache(maxsize=512)
def _compiled(name: str, document: str) -> Policy:
    # Keyed by the text itself: an edited policy compiles afresh on every worker.
    return parse_policy(document, kind=PolicyKind.IDENTITY, name=name)


@dataclass(frozen=True)
class _Attached:
    """One attachment, its policy compiled."""

    target: str
    user_id: int | None
    group_id: int | None
    application: str
    policy: Policy


# (generation token, attachments) of this process; the database's PolicyGeneration says
# when anyone (another node, the CLI) changed something, so the truth stays there.
_attachments: tuple[str | None, tuple[_Attached, ...]] = (None, ())


GENERATION_MEMO = "access.policy-generation"


def _generation() -> str:
    # Read once per request: a sign-in decides the session and the sign-in policy, both
    # against the same policies.
    return remembered(GENERATION_MEMO, _read_generation)


def _read_generation() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT token FROM access_policygeneration WHERE id = 1")
        row = cursor.fetchone()
    return str(row[0]) if row else ""


def _current_attachments() -> tuple[_Attached, ...]:
    """Every attachment with its compiled policy: one small query per decision."""
    global _attachments
    generation = _generation()
    if _attachments[0] == generation:
        return _attachments[1]
    rows = PolicyAttachment.objects.values_list(
        "target", "user_id", "group_id", "application", "policy__name", "policy__document"
    )
    loaded = tuple(
        _Attached(target, user_id, group_id, app, _compiled(name, document))
        for target, user_id, group_id, app, name, document in rows
    )
    _attachments = (generation, loaded)
    return loaded


def policies_for(user: User, application: str | None = None) -> list[Policy]:
    """The identity policies of one evaluation: IdP, user, the user's groups, the app."""
    groups = set(user.group_ids())
    chosen: dict[str, Policy] = {}
    for attached in _current_attachments():
        if (
            attached.target == PolicyAttachment.TARGET_IDP
            or (attached.target == PolicyAttachment.TARGET_USER and attached.user_id == user.pk)
            or (attached.target == PolicyAttachment.TARGET_GROUP and attached.group_id in groups)
            or (
                attached.target == PolicyAttachment.TARGET_APPLICATION
                and application is not None
                and attached.application == application
            )
        ):
            chosen[attached.policy.name] = attached.policy
    return [chosen[name] for name in sorted(chosen)]


@dataclass(frozen=True)
class AccessFacts:
    """What is known about one access attempt, the request context's raw material."""

    source_ip: str
    now: datetime
    secure_transport: bool
    mfa_present: bool
    mfa_method: str | None = None


def request_context(
    user: User, facts: AccessFacts, *, application: str | None = None
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
        values["sekisho:Application"] = application
    return PolicyContext.from_mapping(values)


def decide(
    action: str, user: User, facts: AccessFacts, *, application: str | None = None
) -> Decision:
    """Evaluate one IdP action for a user; pure of side effects (the simulator uses it too)."""
    resource = application_arn(application) if application else user_arn(user.username)
    request = Request(
        action=action,
        resource=resource,
        context=request_context(user, facts, application=application),
        principal=user_arn(user.username),
    )
    return evaluate(request=request, identity_policies=policies_for(user, application))


def _authorize(
    action: str,
    user: User,
    facts: AccessFacts,
    *,
    context: RequestContext,
    application: str | None,
    workflow_id: str | None,
) -> Decision:
    decision = decide(action, user, facts, application=application)
    if decision.decision != "Allow":
        emit(
            records.policy_denied(
                action=action,
                resource=application_arn(application) if application else user_arn(user.username),
                decision=decision.decision,
                explanation=decision.explanation,
                matched=[
                    {"policy": m.policy, "sid": m.sid, "effect": m.effect} for m in decision.matched
                ],
                user_uid=str(user.uid),
                identity_store_arn=identity_store_arn(),
                workflow_id=workflow_id,
                application_name=application,
                session_id=context.session_id,
                source_ip=context.source_ip,
                user_agent=context.user_agent,
                now=facts.now,
            )
        )
    return decision


def authorize_sign_in(
    user: User, facts: AccessFacts, *, context: RequestContext, workflow_id: str
) -> Decision:
    """The sekisho:SignIn decision for a session being created; a refusal is audited."""
    return _authorize(
        SIGN_IN, user, facts, context=context, application=None, workflow_id=workflow_id
    )


def authorize_launch(
    user: User, application: str, facts: AccessFacts, *, context: RequestContext
) -> Decision:
    """The sekisho:LaunchApplication decision before any assertion exists; refusals audited."""
    return _authorize(
        LAUNCH_APPLICATION, user, facts, context=context, application=application, workflow_id=None
    )


def mfa_method(methods: Sequence[str]) -> str | None:
    """The second factor of a completed sign-in (e.g. TOTP), or None."""
    others = [m for m in methods if m != "PASSWORD"]
    return others[-1] if others else None
