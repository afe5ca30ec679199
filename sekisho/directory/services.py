"""Directory operations shared by the CLI and the web: users, groups and assignments."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from sekisho.audit import records
from sekisho.audit.writer import RequestContext, emit
from sekisho.clock import SYSTEM_CLOCK, Clock
from sekisho.directory import errors, rules
from sekisho.directory.models import Assignment, Group, User
from sekisho.saml.core.presets import role_session_name_problem
from sekisho.saml.models import Application


@dataclass(frozen=True)
class Actor:
    """Who performs an administrative change (for the audit trail)."""

    name: str
    context: RequestContext


def admin_audit(actor: Actor, event_name: str, parameters: dict[str, object], clock: Clock) -> None:
    """Record an administrative change made by an actor."""
    emit(
        records.admin_change(
            event_name=event_name,
            actor=actor.name,
            parameters=parameters,
            source_ip=actor.context.source_ip,
            user_agent=actor.context.user_agent,
            now=clock.now(),
        )
    )


def get_user(username: str) -> User:
    """The user with exactly this username, or UserNotFound."""
    user = User.objects.filter(username=username).first()
    if user is None:
        raise errors.UserNotFound(f"no user named {username!r}")
    return user


def get_group(name: str) -> Group:
    """The group with exactly this name, or GroupNotFound."""
    group = Group.objects.filter(name=name).first()
    if group is None:
        raise errors.GroupNotFound(f"no group named {name!r}")
    return group


def check_password(password: str, *, username: str, email: str) -> None:
    """Raise WeakPassword listing every problem of a proposed password (NIST SP 800-63B)."""
    from sekisho.mfa.methods import MfaMode
    from sekisho.mfa.services import current_mode

    # NIST SP 800-63B §3.1.1.2: a password that is the only factor needs 15 characters.
    single_factor = current_mode() is MfaMode.DISABLED
    problems = rules.password_problems(
        password,
        username=username,
        email=email,
        min_length=rules.PASSWORD_MIN_SINGLE_FACTOR if single_factor else rules.PASSWORD_MIN,
    )
    if problems:
        raise errors.WeakPassword("; ".join(p.message for p in problems))


def create_user(
    *,
    username: str,
    email: str,
    display_name: str | None,
    password: str | None,
    actor: Actor,
    must_change_password: bool = False,
    clock: Clock = SYSTEM_CLOCK,
) -> User:
    """Create a user after validating every field; the password is hashed with argon2id."""
    username = rules.validate_username(username)
    email = rules.validate_email(email)
    display = rules.validate_display_name(display_name or username)
    if password is not None:
        check_password(password, username=username, email=email)
    try:
        with transaction.atomic():
            user = User.objects.create_user(username, email, display, password)
            if must_change_password:
                user.must_change_password = True
                user.save(update_fields=["must_change_password"])
    except IntegrityError:
        raise errors.UserExists(
            f"a user named {username!r} already exists (usernames ignore case)"
        ) from None
    admin_audit(
        actor, "CreateUser", {"userName": username, "email": email, "userId": str(user.uid)}, clock
    )
    return user


def set_password(user: User, password: str, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> None:
    """Replace a user's password (validated, hashed)."""
    check_password(password, username=user.username, email=user.email)
    user.set_password(password)
    user.save(update_fields=["password"])
    admin_audit(actor, "SetPassword", {"userName": user.username}, clock)


def set_status(user: User, *, active: bool, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> None:
    """Disable or enable a user; a disabled user cannot sign in or launch anything."""
    user.status = User.STATUS_ACTIVE if active else User.STATUS_DISABLED
    user.save(update_fields=["status"])
    # No session sweep needed: DirectoryBackend.get_user refuses disabled users, so every
    # session of theirs stops working on its next request, on any worker.
    admin_audit(
        actor, "EnableUser" if active else "DisableUser", {"userName": user.username}, clock
    )


def create_group(
    name: str, *, description: str = "", actor: Actor, clock: Clock = SYSTEM_CLOCK
) -> Group:
    """Create a group."""
    name = rules.validate_group_name(name)
    try:
        with transaction.atomic():
            group = Group.objects.create(name=name, description=description)
    except IntegrityError:
        raise errors.GroupExists(f"a group named {name!r} already exists") from None
    admin_audit(actor, "CreateGroup", {"groupName": name}, clock)
    return group


def add_member(group: Group, user: User, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> None:
    """Add a user to a group (idempotent)."""
    group.members.add(user)
    admin_audit(
        actor, "AddMemberToGroup", {"groupName": group.name, "userName": user.username}, clock
    )


def remove_member(group: Group, user: User, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> None:
    """Remove a user from a group (idempotent)."""
    group.members.remove(user)
    admin_audit(
        actor, "RemoveMemberFromGroup", {"groupName": group.name, "userName": user.username}, clock
    )


def assignable_problem(app: Application, user: User) -> str | None:
    """Why this user cannot use this application, or None (e.g. an invalid RoleSessionName)."""
    if app.kind in (Application.KIND_AMAZON_CONNECT, Application.KIND_AWS_CONSOLE):
        return role_session_name_problem(user.username)
    return None


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
        raise errors.DirectoryError("assign to exactly one of a user or a group")
    if user is not None:
        problem = assignable_problem(app, user)
        if problem:
            raise errors.InvalidUsername(
                f"user {user.username!r} cannot be assigned to {app.name!r}: {problem}"
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
        raise errors.DirectoryError("unassign exactly one of a user or a group")
    if user is not None:
        deleted, _ = Assignment.objects.filter(application=app, user=user).delete()
        target = {"userName": user.username}
    else:
        deleted, _ = Assignment.objects.filter(application=app, group=group).delete()
        assert group is not None
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
    """Whether the user may launch the application."""
    return applications_for(user).filter(pk=app.pk).exists()
