"""Who may use which application: assignments to users and groups, and the apps' own rules.

Whether a user can be assigned is a rule of the application (an AWS preset needs the
RoleSessionName its mapping gives the user to be valid), not of the directory, so it
lives here.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import Q, QuerySet

from sekisho.audit.writer import Actor, admin_audit
from sekisho.clock import SYSTEM_CLOCK, Clock
from sekisho.config import get_config
from sekisho.directory.models import Group, User
from sekisho.saml import errors
from sekisho.saml.core import attributes as mapping
from sekisho.saml.core.presets import AWS_ROLE_SESSION_NAME, role_session_name_problem
from sekisho.saml.models import Application, Assignment

# Presets whose assertion names the user in an AWS RoleSessionName.
_AWS_KINDS = (Application.KIND_AMAZON_CONNECT, Application.KIND_AWS_CONSOLE)


def user_attributes(user: User) -> mapping.UserAttributes:
    """The user's data as attribute mappings see it."""
    given, _, family = user.display_name.partition(" ")
    return mapping.UserAttributes(
        uid=str(user.uid),
        username=user.username,
        email=user.email,
        display_name=user.display_name,
        given_name=given,
        family_name=family,
        groups=user.group_names(),
        scope=get_config().scope,
    )


def role_session_name(app: Application, user: User) -> str | None:
    """The RoleSessionName an AWS application asserts for ``user`` (its mapping evaluated,
    ``${user:username}`` unless edited), or None when it would send none."""
    for item in app.attribute_mappings:
        if item.get("name") == AWS_ROLE_SESSION_NAME:
            values = mapping.evaluate(str(item.get("value", "")), user_attributes(user))
            return values[0] if values else None
    return None


def assignable_problem(app: Application, user: User) -> str | None:
    """Why this user cannot use this application, or None (e.g. an invalid RoleSessionName).

    An AWS application is judged by the RoleSessionName its mapping gives the user (AWS
    refuses an assertion without a valid one), which is the username unless edited.
    """
    if app.kind not in _AWS_KINDS:
        return None
    name = role_session_name(app, user)
    if not name:
        return (
            f"{app.name} asserts no RoleSessionName for user {user.username} (its "
            "RoleSessionName mapping is missing or has no value for them); AWS requires one"
        )
    if name == user.username:
        return role_session_name_problem(name)
    problem = role_session_name_problem(name, "RoleSessionName")
    return f"{problem}, mapped from user {user.username!r}" if problem else None


def assign(
    app: Application,
    *,
    user: User | None = None,
    group: Group | None = None,
    actor: Actor,
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    """Assign an application to a user or a group (exactly one)."""
    if (user is None) == (group is None):
        raise errors.AssignmentError("assign to exactly one of a user or a group")
    if user is not None:
        problem = assignable_problem(app, user)
        if problem:
            raise errors.AssignmentError(
                f"user {user.username!r} cannot be assigned to {app.name!r}: {problem}",
                code="not_assignable",
            )
        Assignment.objects.get_or_create(application=app, user=user)
        target = {"userName": user.username}
    else:
        assert group is not None
        Assignment.objects.get_or_create(application=app, group=group)
        target = {"groupName": group.name}
    admin_audit(actor, "AssignApplication", {"application": app.name, **target}, clock)


def unassign(
    app: Application,
    *,
    user: User | None = None,
    group: Group | None = None,
    actor: Actor,
    clock: Clock = SYSTEM_CLOCK,
) -> bool:
    """Remove an assignment; returns whether one existed."""
    if (user is None) == (group is None):
        raise errors.AssignmentError("unassign exactly one of a user or a group")
    if user is not None:
        deleted, _ = Assignment.objects.filter(application=app, user=user).delete()
        target = {"userName": user.username}
    else:
        assert group is not None
        deleted, _ = Assignment.objects.filter(application=app, group=group).delete()
        target = {"groupName": group.name}
    admin_audit(actor, "UnassignApplication", {"application": app.name, **target}, clock)
    return deleted > 0


def applications_for(user: User) -> QuerySet[Application]:
    """Applications assigned to the user directly or through any of their groups."""
    return (
        Application.objects.filter(Q(assignments__user=user) | Q(assignments__group__members=user))
        .distinct()
        .order_by("display_name", "name")
    )


def is_assigned(app: Application, user: User) -> bool:
    """Whether the user may launch the application (directly or through a group).

    Asked on every launch: one indexed query in plain SQL (the ORM's compilation of it
    cost more than the query itself).
    """
    groups = user.group_ids()
    table = Assignment._meta.db_table
    in_groups = f" OR group_id IN ({', '.join(['%s'] * len(groups))})" if groups else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {table} WHERE application_id = %s AND (user_id = %s{in_groups})"  # noqa: S608 - names are ours, values are parameters
            " LIMIT 1",
            [app.pk, user.pk, *groups],
        )
        return cursor.fetchone() is not None


def assigned_users(app: Application) -> QuerySet[User]:
    """Every user the application is assigned to, directly or through a group, by username."""
    direct = Assignment.objects.filter(application=app, user__isnull=False).values("user_id")
    groups = Assignment.objects.filter(application=app, group__isnull=False).values("group_id")
    return (
        User.objects.filter(Q(pk__in=direct) | Q(groups_joined__in=groups))
        .distinct()
        .order_by("username")
    )
