"""Directory operations shared by the CLI, the web and the demo: users and groups.

The directory asks nothing of other contexts: whatever depends on them (whether the
password is the only factor, which applications a user may use) is passed in by the
caller that composes them.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from sekisho.audit.writer import Actor, admin_audit
from sekisho.clock import SYSTEM_CLOCK, Clock
from sekisho.directory import errors, rules
from sekisho.directory.models import Group, User


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


def check_password(password: str, *, username: str, email: str, only_factor: bool) -> None:
    """Raise WeakPassword listing every problem of a proposed password (NIST SP 800-63B).

    ``only_factor``: no second factor will be asked (MFA disabled), so §3.1.1.2's longer
    minimum applies; the caller that knows the MFA settings says so.
    """
    problems = rules.password_problems(
        password,
        username=username,
        email=email,
        min_length=rules.PASSWORD_MIN_SINGLE_FACTOR if only_factor else rules.PASSWORD_MIN,
    )
    if problems:
        raise errors.WeakPassword("; ".join(p.message for p in problems))


def create_user(
    *,
    username: str,
    email: str,
    display_name: str | None,
    password: str | None,
    password_only_factor: bool,
    actor: Actor,
    must_change_password: bool = False,
    clock: Clock = SYSTEM_CLOCK,
) -> User:
    """Create a user after validating every field; the password is hashed with argon2id."""
    username = rules.validate_username(username)
    email = rules.validate_email(email)
    display = rules.validate_display_name(display_name or username)
    if password is not None:
        check_password(
            password, username=username, email=email, only_factor=password_only_factor
        )
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


def set_password(
    user: User,
    password: str,
    *,
    password_only_factor: bool,
    actor: Actor,
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    """Replace a user's password (validated, hashed)."""
    check_password(
        password, username=user.username, email=user.email, only_factor=password_only_factor
    )
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
    user.forget_memberships()
    admin_audit(
        actor, "AddMemberToGroup", {"groupName": group.name, "userName": user.username}, clock
    )


def remove_member(group: Group, user: User, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> None:
    """Remove a user from a group (idempotent)."""
    group.members.remove(user)
    user.forget_memberships()
    admin_audit(
        actor, "RemoveMemberFromGroup", {"groupName": group.name, "userName": user.username}, clock
    )
