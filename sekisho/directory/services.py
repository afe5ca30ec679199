"""Directory operations shared by the CLI, the web and the demo: users and groups.

The directory asks nothing of other contexts: whatever depends on them (whether the
password is the only factor, which applications a user may use) is passed in by the
caller that composes them.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q

from sekisho.audit import records
from sekisho.audit.writer import Actor, RequestContext, admin_audit, emit, identity_store_arn
from sekisho.clock import SYSTEM_CLOCK, Clock
from sekisho.directory import errors, rules, throttle
from sekisho.directory.models import DirectorySettings, Group, SignInThrottle, User
from sekisho.directory.signin import account_scope, peek_throttle


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
        raise errors.WeakPassword("; ".join(p.message for p in problems), problems=tuple(problems))


def create_user(
    *,
    username: str,
    email: str,
    display_name: str | None,
    password: str | None,
    password_only_factor: bool,
    actor: Actor,
    must_change_password: bool = False,
    time_zone: str = "",
    clock: Clock = SYSTEM_CLOCK,
) -> User:
    """Create a user after validating every field; the password is hashed with argon2id.

    ``must_change_password``: the password is a temporary one its owner must replace at
    their first sign-in.
    """
    username = rules.validate_username(username)
    email = rules.validate_email(email)
    display = rules.validate_display_name(display_name or username)
    zone = rules.validate_time_zone(time_zone, allow_empty=True)
    if password is not None:
        check_password(password, username=username, email=email, only_factor=password_only_factor)
    try:
        with transaction.atomic():
            user = User.objects.create_user(username, email, display, password)
            if must_change_password or zone:
                user.must_change_password = must_change_password
                user.time_zone = zone
                user.save(update_fields=["must_change_password", "time_zone"])
    except IntegrityError:
        raise errors.UserExists(
            f"a user named {username!r} already exists (usernames ignore case)"
        ) from None
    admin_audit(
        actor,
        "CreateUser",
        {
            "userName": username,
            "email": email,
            "userId": str(user.uid),
            "temporary": password is not None and must_change_password,
        },
        clock,
    )
    return user


def update_user(
    user: User,
    *,
    email: str | None = None,
    display_name: str | None = None,
    time_zone: str | None = None,
    actor: Actor,
    clock: Clock = SYSTEM_CLOCK,
) -> dict[str, str]:
    """Change a user's email, display name or time zone (only those given); returns the changes."""
    changes: dict[str, str] = {}
    if email is not None and (value := rules.validate_email(email)) != user.email:
        user.email = changes["email"] = value
    if display_name is not None and (
        (value := rules.validate_display_name(display_name)) != user.display_name
    ):
        user.display_name = changes["displayName"] = value
    if time_zone is not None and (
        (value := rules.validate_time_zone(time_zone, allow_empty=True)) != user.time_zone
    ):
        user.time_zone = changes["timeZone"] = value
    if changes:
        fields = {"email": "email", "displayName": "display_name", "timeZone": "time_zone"}
        user.save(update_fields=[fields[key] for key in changes])
        admin_audit(actor, "UpdateUser", {"userName": user.username, **changes}, clock)
    return changes


def delete_user(user: User, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> None:
    """Delete a user and everything that is theirs alone (devices, memberships, throttles).

    Their audit records stay: they name the user by id, which is never reused.
    """
    username, uid = user.username, str(user.uid)
    with transaction.atomic():
        SignInThrottle.objects.filter(_throttle_scopes(user)).delete()
        user.delete()
    admin_audit(actor, "DeleteUser", {"userName": username, "userId": uid}, clock)


def _throttle_scopes(user: User) -> Q:
    """The password throttles that belong to this user (their account and known browsers)."""
    return Q(scope=account_scope(user.username)) | Q(scope__startswith=f"browser:{user.uid}:")


def locked_until(user: User, *, now: datetime) -> datetime | None:
    """Until when password sign-in is locked for this user's account or a known browser."""
    latest: datetime | None = None
    browsers = SignInThrottle.objects.filter(scope__startswith=f"browser:{user.uid}:")
    scopes = [account_scope(user.username), *browsers.values_list("scope", flat=True)]
    for scope in scopes:
        end = throttle.lock_end(peek_throttle(scope), now)
        if end is not None:
            latest = max(latest or end, end)
    return latest


def clear_throttles(user: User) -> int:
    """Forget the user's failed password sign-ins and locks (an administrator's unlock)."""
    deleted, _ = SignInThrottle.objects.filter(_throttle_scopes(user)).delete()
    return deleted


def set_password(
    user: User,
    password: str,
    *,
    password_only_factor: bool,
    actor: Actor,
    temporary: bool = False,
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    """Replace a user's password (validated, hashed); ``temporary``: it must be changed at
    the next sign-in."""
    check_password(
        password, username=user.username, email=user.email, only_factor=password_only_factor
    )
    user.set_password(password)
    user.must_change_password = temporary
    user.save(update_fields=["password", "must_change_password"])
    admin_audit(actor, "SetPassword", {"userName": user.username, "temporary": temporary}, clock)


def change_own_password(
    user: User,
    password: str,
    *,
    password_only_factor: bool,
    context: RequestContext,
    workflow_id: str,
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    """A person replaces their own password (e.g. the temporary one at first sign-in).

    Validated like any password and refused when it equals the one it replaces; audited
    as ``UpdatePassword`` on the person's own identity.
    """
    check_password(
        password, username=user.username, email=user.email, only_factor=password_only_factor
    )
    if user.check_password(password):
        raise errors.PasswordReused("choose a password different from the current one")
    required = user.must_change_password
    user.set_password(password)
    user.must_change_password = False
    user.save(update_fields=["password", "must_change_password"])
    emit(
        records.password_updated(
            user_uid=str(user.uid),
            identity_store_arn=identity_store_arn(),
            workflow_id=workflow_id,
            required=required,
            source_ip=context.source_ip,
            user_agent=context.user_agent,
            now=clock.now(),
        )
    )


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
    description = rules.validate_group_description(description)
    try:
        with transaction.atomic():
            group = Group.objects.create(name=name, description=description)
    except IntegrityError:
        raise errors.GroupExists(f"a group named {name!r} already exists") from None
    admin_audit(actor, "CreateGroup", {"groupName": name}, clock)
    return group


def update_group(
    group: Group, *, description: str, actor: Actor, clock: Clock = SYSTEM_CLOCK
) -> bool:
    """Change a group's description; returns whether it changed."""
    value = rules.validate_group_description(description)
    if value == group.description:
        return False
    group.description = value
    group.save(update_fields=["description"])
    admin_audit(actor, "UpdateGroup", {"groupName": group.name, "description": value}, clock)
    return True


def delete_group(group: Group, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> None:
    """Delete a group (its memberships go with it; its members stay)."""
    name = group.name
    group.delete()
    admin_audit(actor, "DeleteGroup", {"groupName": name}, clock)


def idp_time_zone() -> str:
    """The time zone pages show times in when the person chose none."""
    return DirectorySettings.current().time_zone


def set_idp_time_zone(zone: str, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> str:
    """Set the IdP's default time zone (an IANA name); returns it."""
    value = rules.validate_time_zone(zone)
    row = DirectorySettings.current()
    if row.time_zone != value:
        row.time_zone = value
        row.save(update_fields=["time_zone", "updated_at"])
        admin_audit(actor, "UpdateSettings", {"timeZone": value}, clock)
    return value


def time_zone_of(user: User | None) -> str:
    """The zone a person sees times in: their own choice, else the IdP's."""
    if user is not None and user.time_zone:
        return user.time_zone
    return idp_time_zone()


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
