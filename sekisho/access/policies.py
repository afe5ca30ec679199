"""The IdP's stored policies and where they are attached (IdP, group, user, application).

Documents are validated with the policy language before they are stored; every change
is an audited administrative action.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q

from sekisho.access.decisions import GENERATION_MEMO
from sekisho.access.errors import StoredPolicyError
from sekisho.access.models import PolicyAttachment, PolicyGeneration, StoredPolicy
from sekisho.audit.writer import Actor, admin_audit
from sekisho.clock import SYSTEM_CLOCK, Clock
from sekisho.directory.models import Group, User
from sekisho.memo import forget
from sekisho.policy import PolicyKind, parse_policy

ALLOW_ALL_NAME = "AllowAll"  # created by migration access/0001 on a fresh install
_POLICY_NAME = re.compile(r"^[A-Za-z0-9+=,.@_-]{1,128}$")


def _changed() -> None:
    """Mark a change (in the changing transaction): every node's cache reloads."""
    PolicyGeneration.objects.update_or_create(pk=1, defaults={"token": uuid.uuid4().hex})
    forget(GENERATION_MEMO)


def get_policy(name: str) -> StoredPolicy:
    """The stored policy with this name, or an error naming it."""
    stored = StoredPolicy.objects.filter(name=name).first()
    if stored is None:
        raise StoredPolicyError(f"no policy named {name!r}", code="no_such_policy")
    return stored


def list_policies() -> list[StoredPolicy]:
    """Every stored policy, by name."""
    return list(StoredPolicy.objects.order_by("name"))


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
        raise StoredPolicyError(
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
        _changed()
    admin_audit(actor, "PutPolicy", {"policyName": name, "created": created}, clock)
    return stored, created


def delete_policy(name: str, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> None:
    """Delete a policy that is attached nowhere (IAM's DeleteConflict otherwise)."""
    stored = get_policy(name)
    count = stored.attachments.count()
    if count:
        raise StoredPolicyError(
            f"policy {name!r} is still attached {count} time(s); detach it first",
            code="delete_conflict",
        )
    with transaction.atomic():
        stored.delete()
        _changed()
    admin_audit(actor, "DeletePolicy", {"policyName": name}, clock)


@dataclass(frozen=True)
class Target:
    """Where a policy is attached: the IdP, a group, a user or an application (by name)."""

    kind: str
    user: User | None = None
    group: Group | None = None
    application: str = ""

    @classmethod
    def idp(cls) -> Target:
        """The whole identity provider."""
        return cls(PolicyAttachment.TARGET_IDP)

    @classmethod
    def for_user(cls, user: User) -> Target:
        """One user."""
        return cls(PolicyAttachment.TARGET_USER, user=user)

    @classmethod
    def for_group(cls, group: Group) -> Target:
        """Every member of a group."""
        return cls(PolicyAttachment.TARGET_GROUP, group=group)

    @classmethod
    def for_application(cls, name: str) -> Target:
        """Launches of one application (the caller checks that it exists)."""
        return cls(PolicyAttachment.TARGET_APPLICATION, application=name)

    def describe(self) -> str:
        """'the identity provider', 'group agents', …"""
        if self.user is not None:
            return f"user {self.user.username}"
        if self.group is not None:
            return f"group {self.group.name}"
        if self.application:
            return f"application {self.application}"
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
            _changed()
    except IntegrityError:
        return False
    admin_audit(actor, "AttachPolicy", {"policyName": name, "target": target.describe()}, clock)
    return True


def detach(name: str, target: Target, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> bool:
    """Detach a policy; returns False when it was not attached there."""
    stored = get_policy(name)
    with transaction.atomic():
        deleted, _ = PolicyAttachment.objects.filter(target.filter(), policy=stored).delete()
        if deleted:
            _changed()
    if deleted:
        admin_audit(actor, "DetachPolicy", {"policyName": name, "target": target.describe()}, clock)
    return deleted > 0


def detach_application(name: str) -> int:
    """Forget every attachment to an application that is being deleted; returns how many.

    The deletion itself is the audited action: its caller records it.
    """
    with transaction.atomic():
        deleted, _ = PolicyAttachment.objects.filter(
            target=PolicyAttachment.TARGET_APPLICATION, application=name
        ).delete()
        if deleted:
            _changed()
    return deleted


def describe_policy(stored: StoredPolicy) -> dict[str, Any]:
    """A stored policy with its document and attachments, for `sekisho policy get`."""
    attachments = stored.attachments.select_related("user", "group")
    return {
        "name": stored.name,
        "description": stored.description,
        "document": json.loads(stored.document),
        "attached_to": sorted(
            Target(a.target, a.user, a.group, a.application).describe() for a in attachments
        ),
        "updated_at": stored.updated_at,
    }
