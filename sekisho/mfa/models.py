"""MFA storage: the IdP-wide MFA setting and each user's registered TOTP devices."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models


class MfaSettings(models.Model):
    """The IdP-wide MFA setting (one row)."""

    MODE_ALWAYS = "always"
    MODE_DISABLED = "disabled"
    MODE_CHOICES: ClassVar[list[tuple[str, str]]] = [
        (MODE_ALWAYS, "every sign-in"),
        (MODE_DISABLED, "disabled"),
    ]

    singleton = models.BooleanField(default=True, unique=True)
    mode = models.CharField(max_length=32, choices=MODE_CHOICES, default=MODE_ALWAYS)
    updated_at = models.DateTimeField(auto_now=True)

    @classmethod
    def current(cls) -> MfaSettings:
        """The setting row, created with the defaults on first use."""
        row, _ = cls.objects.get_or_create(singleton=True)
        return row


class TotpDevice(models.Model):
    """An authenticator app registered by a user (RFC 6238)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp_devices"
    )
    name = models.CharField(max_length=64)
    # AES-256-GCM token from sekisho.crypto.SecretBox; never the plain secret.
    sealed_secret = models.CharField(max_length=512)
    confirmed = models.BooleanField(default=False)
    # RFC 6238 §5.2: the last accepted time step; no step at or below it is accepted again.
    last_used_step = models.BigIntegerField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True)
    last_used_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"{self.name} ({'confirmed' if self.confirmed else 'pending'})"
