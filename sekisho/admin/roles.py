"""Administrative roles and what each may do: one table, read by the console, the API and tests.

Three roles (issue 12): ``admin`` does everything; ``helpdesk`` unlocks, resets MFA,
disables and enables users, sets temporary passwords and ends sessions (and reads what
that needs); ``auditor`` reads everything and exports the audit, and changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from django.db import IntegrityError, transaction

from sekisho.admin.errors import InvalidRole
from sekisho.admin.models import RoleGrant
from sekisho.audit.writer import Actor, admin_audit
from sekisho.clock import SYSTEM_CLOCK, Clock
from sekisho.directory.models import User


class Role(StrEnum):
    """An administrative role."""

    ADMIN = "admin"
    HELPDESK = "helpdesk"
    AUDITOR = "auditor"


class Permission(StrEnum):
    """One kind of administrative action; every console view and API operation needs one."""

    DASHBOARD_READ = "dashboard.read"
    USERS_READ = "users.read"
    USERS_EXPORT = "users.export"
    USERS_CREATE = "users.create"
    USERS_UPDATE = "users.update"
    USERS_DELETE = "users.delete"
    USERS_IMPORT = "users.import"
    USERS_DISABLE = "users.disable"
    USERS_UNLOCK = "users.unlock"
    USERS_RESET_MFA = "users.reset_mfa"
    USERS_SET_PASSWORD = "users.set_password"  # noqa: S105 - a permission name
    DEVICES_REMOVE = "devices.remove"
    SESSIONS_READ = "sessions.read"
    SESSIONS_REVOKE = "sessions.revoke"
    ROLES_GRANT = "roles.grant"
    GROUPS_READ = "groups.read"
    GROUPS_WRITE = "groups.write"
    APPS_READ = "apps.read"
    APPS_WRITE = "apps.write"
    APPS_DELETE = "apps.delete"
    APPS_PREVIEW = "apps.preview"
    ASSIGNMENTS_WRITE = "assignments.write"
    POLICIES_READ = "policies.read"
    POLICIES_WRITE = "policies.write"
    POLICIES_SIMULATE = "policies.simulate"
    MFA_READ = "mfa.read"
    MFA_WRITE = "mfa.write"
    RADIUS_READ = "radius.read"
    RADIUS_WRITE = "radius.write"
    RADIUS_TEST = "radius.test"
    KEYS_READ = "keys.read"
    KEYS_ROTATE = "keys.rotate"
    AUDIT_READ = "audit.read"
    AUDIT_EXPORT = "audit.export"
    SETTINGS_READ = "settings.read"
    SETTINGS_WRITE = "settings.write"
    TOKENS_READ = "tokens.read"
    TOKENS_WRITE = "tokens.write"

    @property
    def read_only(self) -> bool:
        """Whether the action changes nothing (CloudTrail's readOnly)."""
        return self in READ_ONLY


READ_ONLY = frozenset(
    {
        Permission.DASHBOARD_READ,
        Permission.USERS_READ,
        Permission.USERS_EXPORT,
        Permission.SESSIONS_READ,
        Permission.GROUPS_READ,
        Permission.APPS_READ,
        Permission.POLICIES_READ,
        Permission.POLICIES_SIMULATE,
        Permission.MFA_READ,
        Permission.RADIUS_READ,
        Permission.KEYS_READ,
        Permission.AUDIT_READ,
        Permission.AUDIT_EXPORT,
        Permission.SETTINGS_READ,
        Permission.TOKENS_READ,
    }
)

# A signed assertion preview could be replayed at the SP as that user within its
# lifetime: minting one is an admin's action, not a read.
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.HELPDESK: frozenset(
        {
            Permission.DASHBOARD_READ,
            Permission.USERS_READ,
            Permission.GROUPS_READ,
            Permission.SESSIONS_READ,
            Permission.POLICIES_SIMULATE,
            Permission.USERS_DISABLE,
            Permission.USERS_UNLOCK,
            Permission.USERS_RESET_MFA,
            Permission.USERS_SET_PASSWORD,
            Permission.DEVICES_REMOVE,
            Permission.SESSIONS_REVOKE,
        }
    ),
    Role.AUDITOR: READ_ONLY,
}

# Changes that need the password typed again within ten minutes on the console, on top
# of MFA in the session: who administers, what policies allow, keys and RADIUS secrets,
# deleting applications, and API tokens.
SENSITIVE = frozenset(
    {
        Permission.ROLES_GRANT,
        Permission.POLICIES_WRITE,
        Permission.KEYS_ROTATE,
        Permission.RADIUS_WRITE,
        Permission.APPS_DELETE,
        Permission.TOKENS_WRITE,
    }
)


def parse_role(text: str) -> Role:
    """A role by name, or InvalidRole naming the three."""
    try:
        return Role(text)
    except ValueError:
        raise InvalidRole(
            f"expected a role admin, helpdesk or auditor, got {text[:40]!r}"
        ) from None


def allows(roles: frozenset[Role] | set[Role], permission: Permission) -> bool:
    """Whether any of the roles grants the permission."""
    return any(permission in ROLE_PERMISSIONS[role] for role in roles)


def roles_of(user: User) -> frozenset[Role]:
    """The roles a user holds (none for most people)."""
    return frozenset(
        Role(name)
        for name in RoleGrant.objects.filter(user=user).values_list("role", flat=True)
        if name in Role.__members__.values()
    )


def grants(user: User) -> list[tuple[Role, datetime, str]]:
    """The user's grants: (role, when, by whom)."""
    return [
        (Role(g.role), g.granted_at, g.granted_by)
        for g in RoleGrant.objects.filter(user=user).order_by("role")
    ]


def grant(user: User, role: Role, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> bool:
    """Grant a role; returns False when the user already held it."""
    try:
        with transaction.atomic():
            RoleGrant.objects.create(
                user=user, role=role.value, granted_at=clock.now(), granted_by=actor.name[:200]
            )
    except IntegrityError:
        return False
    admin_audit(actor, "GrantRole", {"userName": user.username, "role": role.value}, clock)
    return True


def revoke(user: User, role: Role, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> bool:
    """Take a role away; returns False when the user did not hold it."""
    deleted, _ = RoleGrant.objects.filter(user=user, role=role.value).delete()
    if deleted:
        admin_audit(actor, "RevokeRole", {"userName": user.username, "role": role.value}, clock)
    return deleted > 0


def holders(role: Role | None = None) -> list[tuple[str, Role]]:
    """(username, role) of every grant, by username."""
    rows = RoleGrant.objects.select_related("user").order_by("user__username", "role")
    if role is not None:
        rows = rows.filter(role=role.value)
    return [(g.user.username, Role(g.role)) for g in rows]
