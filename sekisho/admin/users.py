"""User lifecycle, composed from the directory, MFA, sessions and roles (one rule, one place).

The console, the API and the CLI call these; each change is audited with its actor.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from sekisho.admin import roles
from sekisho.admin.errors import InvalidInput, NotFound
from sekisho.audit.writer import Actor, admin_audit
from sekisho.clock import SYSTEM_CLOCK, Clock
from sekisho.directory import errors as directory_errors
from sekisho.directory import services as directory
from sekisho.directory.models import Group, User
from sekisho.errors import ConfigError
from sekisho.mfa import services as mfa
from sekisho.mfa.methods import Device
from sekisho.mfa.radius_admin import radius_username, set_radius_username
from sekisho.portal import sessions
from sekisho.saml.assignments import applications_for

MAX_PAGE = 200


def get_user(username: str) -> User:
    """The user with exactly this username, or NotFound."""
    try:
        return directory.get_user(username)
    except directory_errors.UserNotFound:
        raise NotFound(f"no user named {username[:130]!r}") from None


def get_group(name: str) -> Group:
    """The group with exactly this name, or NotFound."""
    try:
        return directory.get_group(name)
    except directory_errors.GroupNotFound:
        raise NotFound(f"no group named {name[:130]!r}") from None


def temporary_password() -> str:
    """A random password to hand over once (about 95 bits): 16 letters and digits in fours."""
    alphabet = string.ascii_letters + string.digits
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def create_user(
    *,
    username: str,
    email: str,
    display_name: str | None = None,
    password: str | None = None,
    temporary: bool = True,
    time_zone: str = "",
    groups: tuple[str, ...] = (),
    actor: Actor,
    clock: Clock = SYSTEM_CLOCK,
) -> User:
    """Create a user (with the password rules of the current MFA mode) and their memberships.

    ``temporary``: the password must be changed at first sign-in (the default: an
    administrator knows it).
    """
    found = [get_group(name) for name in groups]
    with transaction.atomic():
        user = directory.create_user(
            username=username,
            email=email,
            display_name=display_name,
            password=password,
            password_only_factor=mfa.password_is_only_factor(),
            must_change_password=password is not None and temporary,
            time_zone=time_zone,
            actor=actor,
            clock=clock,
        )
        for group in found:
            directory.add_member(group, user, actor=actor, clock=clock)
    return user


def set_password(
    user: User, password: str, *, temporary: bool, actor: Actor, clock: Clock = SYSTEM_CLOCK
) -> int:
    """Set a password (temporary: changed at next sign-in) and end the user's sessions.

    Returns how many sessions ended: whoever used the old password is signed out.
    """
    directory.set_password(
        user,
        password,
        password_only_factor=mfa.password_is_only_factor(),
        temporary=temporary,
        actor=actor,
        clock=clock,
    )
    return revoke_sessions(user, actor=actor, clock=clock, reason="password set")


def check_password(password: str, *, username: str, email: str) -> None:
    """Raise WeakPassword unless the password passes the rules of the current MFA mode."""
    directory.check_password(
        password, username=username, email=email, only_factor=mfa.password_is_only_factor()
    )


def set_status(user: User, *, active: bool, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> None:
    """Disable (and sign out everywhere) or enable a user."""
    directory.set_status(user, active=active, actor=actor, clock=clock)
    if not active:
        revoke_sessions(user, actor=actor, clock=clock, reason="user disabled")


def unlock(user: User, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> int:
    """Lift every password and MFA lock of the user (their own browsers' and the account's)."""
    cleared = directory.clear_throttles(user) + mfa.clear_throttles(user)
    admin_audit(actor, "UnlockUser", {"userName": user.username, "throttles": cleared}, clock)
    return cleared


def reset_mfa(user: User, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> int:
    """Forget the user's devices, recovery codes and trusted browsers; they register again."""
    return mfa.reset_mfa(user, actor=actor, clock=clock)


def delete_user(user: User, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> None:
    """End the user's sessions, then delete them (devices and memberships go too)."""
    with transaction.atomic():
        sessions.revoke_all(user)
        directory.delete_user(user, actor=actor, clock=clock)


def revoke_sessions(
    user: User, *, actor: Actor, clock: Clock = SYSTEM_CLOCK, reason: str = "revoked"
) -> int:
    """End every signed-in session of the user, on every node; returns how many."""
    ended = sessions.revoke_all(user)
    if ended:
        admin_audit(
            actor,
            "RevokeSessions",
            {"userName": user.username, "sessions": ended, "reason": reason},
            clock,
        )
    return ended


def revoke_session(session_id: str, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> str:
    """End one session by its public id; returns whose it was, or NotFound."""
    if not 1 <= len(session_id) <= 64:
        raise NotFound("no such session")
    user = sessions.revoke(session_id)
    if user is None:
        raise NotFound("no such session (it may have ended already)")
    admin_audit(
        actor,
        "RevokeSessions",
        {"userName": user.username, "sessions": 1, "sessionId": session_id},
        clock,
    )
    return user.username


def active_sessions(
    user: User | None = None, *, clock: Clock = SYSTEM_CLOCK
) -> list[sessions.ActiveSession]:
    """Sessions that still sign someone in (of one user, or everyone's), newest first."""
    return sessions.active_sessions(now=clock.now(), user=user)


def devices(user: User) -> list[Device]:
    """The user's MFA devices of every method (not only those allowed now)."""
    return mfa.devices(user, usable=False)


def remove_device(
    user: User, method: str, device_id: str, *, actor: Actor, clock: Clock = SYSTEM_CLOCK
) -> None:
    """Remove one of the user's devices (lost or stolen), or NotFound."""
    if not mfa.remove_device_by_admin(user, method, device_id, actor=actor, clock=clock):
        raise NotFound(f"{user.username} has no {method[:20]} device {device_id[:40]!r}")


@dataclass(frozen=True)
class LockState:
    """Whether password or MFA sign-in is locked for a user now, and until when."""

    password_until: datetime | None
    mfa_until: datetime | None

    @property
    def locked(self) -> bool:
        """Locked in either way."""
        return self.password_until is not None or self.mfa_until is not None


def lock_state(user: User, *, clock: Clock = SYSTEM_CLOCK) -> LockState:
    """The user's locks now."""
    now = clock.now()
    return LockState(
        password_until=directory.locked_until(user, now=now),
        mfa_until=mfa.locked_until(user, now=now),
    )


def describe(user: User, *, clock: Clock = SYSTEM_CLOCK) -> dict[str, Any]:
    """Everything about a user an administrator reads (`user show`, the console, the API)."""
    locks = lock_state(user, clock=clock)
    return {
        "username": user.username,
        "id": str(user.uid),
        "email": user.email,
        "display_name": user.display_name,
        "status": user.status,
        "time_zone": user.time_zone,
        "must_change_password": user.must_change_password,
        "groups": list(user.group_names()),
        "roles": sorted(role.value for role in roles.roles_of(user)),
        "mfa_devices": [
            {
                "type": d.method,
                "id": d.id,
                "name": d.name,
                "registered": d.created_at,
                "last_used": d.last_used_at,
                "detail": d.detail,
            }
            for d in devices(user)
        ],
        "radius_username": radius_username(user),
        "applications": [a.name for a in applications_for(user)],
        "locked": locks.locked,
        "locked_until": max(
            (t for t in (locks.password_until, locks.mfa_until) if t is not None), default=None
        ),
        "created_at": user.created_at,
        "last_sign_in": user.last_login,
    }


STATUSES = ("active", "disabled")


def search(
    *,
    query: str = "",
    status: str = "",
    group: str = "",
    after: str = "",
    limit: int = 50,
) -> tuple[list[User], str | None]:
    """Users by username, filtered; returns (page, the username to continue after or None).

    ``query`` matches username, email or display name (case-insensitive, anywhere).
    """
    if status and status not in STATUSES:
        raise InvalidInput(
            f"status must be active or disabled, got {status[:20]!r}", field="status"
        )
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE}, got {limit}", field="limit")
    rows: QuerySet[User] = User.objects.order_by("username")
    if query:
        rows = rows.filter(
            Q(username__icontains=query)
            | Q(email__icontains=query)
            | Q(display_name__icontains=query)
        )
    if status:
        rows = rows.filter(status=status)
    if group:
        rows = rows.filter(groups_joined__name=group)
    if after:
        rows = rows.filter(username__gt=after)
    page = list(rows[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return page, (page[-1].username if more and page else None)


def update_radius_username(user: User, name: str, *, actor: Actor) -> bool:
    """`user set-radius-username`: the User-Name sent to RADIUS for this user.

    Empty, or the Sekisho username itself, goes back to the Sekisho username. Returns
    whether anything changed (an unchanged name is not audited).
    """
    name = name.strip()
    if name == radius_username(user):
        return False
    try:
        set_radius_username(user, "" if name == user.username else name, actor=actor)
    except ConfigError as exc:
        raise InvalidInput(str(exc), field="radius_username") from None
    return True
