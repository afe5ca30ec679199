"""Admin storage: role grants, API tokens (hashed) and per-token request windows."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models


class RoleGrant(models.Model):
    """A user holds an administrative role (admin, helpdesk or auditor)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="admin_roles"
    )
    role = models.CharField(max_length=16)
    granted_at = models.DateTimeField()
    granted_by = models.CharField(max_length=200)

    class Meta:
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(fields=["user", "role"], name="admin_role_once_per_user")
        ]


class ApiToken(models.Model):
    """A bearer token for the REST API: its secret is kept only as an HMAC digest."""

    name = models.CharField(max_length=64, unique=True)
    role = models.CharField(max_length=16)
    # The public part of the token (after "sek_"), used to find the row; not a secret.
    key_id = models.CharField(max_length=32, unique=True)
    # HMAC-SHA-256 of the secret part under a key derived from master.key.
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=200)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["name"]


class RequestWindow(models.Model):
    """Requests counted in the current fixed window of one scope (a token or an address).

    In the database, so every worker of every node counts against the same budget.
    """

    scope = models.CharField(max_length=128, unique=True)
    window_start = models.DateTimeField()
    count = models.IntegerField(default=0)
