"""MFA storage: the IdP-wide MFA settings, each user's factors, trusted devices and addresses."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models

from sekisho.memo import forget, remembered

SETTINGS_MEMO = "mfa-settings"
# Whether any RADIUS server is configured (the method is offered only then).
SERVERS_MEMO = "mfa-radius-servers"


class MfaSettings(models.Model):
    """The IdP-wide MFA settings (one row); ``sekisho mfa configure`` changes them."""

    MODE_CHOICES: ClassVar[list[tuple[str, str]]] = [
        ("context-aware", "context-aware"),
        ("always", "every sign-in"),
        ("disabled", "disabled"),
    ]
    WITHOUT_DEVICE_CHOICES: ClassVar[list[tuple[str, str]]] = [
        ("require-registration", "require registration at sign-in"),
        ("block", "block sign-in"),
        ("allow", "allow sign-in without MFA"),
    ]
    UV_CHOICES: ClassVar[list[tuple[str, str]]] = [
        ("preferred", "preferred"),
        ("required", "required"),
    ]

    singleton = models.BooleanField(default=True, unique=True)
    mode = models.CharField(max_length=32, choices=MODE_CHOICES, default="always")
    without_device = models.CharField(
        max_length=32, choices=WITHOUT_DEVICE_CHOICES, default="require-registration"
    )
    # Comma-separated method names users may register and use (see methods.REGISTRY).
    methods = models.CharField(max_length=128, default="totp,webauthn,radius")
    trust_days = models.PositiveIntegerField(default=30)
    # CIDR blocks, one per line, where context-aware mode treats the address as known.
    known_networks = models.TextField(blank=True, default="")
    webauthn_user_verification = models.CharField(
        max_length=16, choices=UV_CHOICES, default="preferred"
    )
    # AAGUIDs allowed to register, one per line; empty allows any authenticator.
    webauthn_aaguids = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    @classmethod
    def current(cls) -> MfaSettings:
        """The setting row, created with the defaults on first use (read once per request)."""

        def load() -> MfaSettings:
            row, _ = cls.objects.get_or_create(singleton=True)
            return row

        return remembered(SETTINGS_MEMO, load)

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, and forget the request's memo of the settings."""
        super().save(*args, **kwargs)
        forget(SETTINGS_MEMO)


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


class WebAuthnCredential(models.Model):
    """A FIDO2 authenticator (passkey or security key) registered by a user (WebAuthn L3)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webauthn_credentials"
    )
    name = models.CharField(max_length=64)
    # base64url of the raw credential ID (WebAuthn §6.1: at most 1023 bytes).
    credential_id = models.CharField(max_length=1400, unique=True)
    # COSE_Key bytes from the attested credential data; a public key, not a secret.
    public_key = models.BinaryField()
    # WebAuthn §6.1.1: a count that does not increase suggests a cloned authenticator.
    sign_count = models.BigIntegerField(default=0)
    transports = models.JSONField(default=list)
    aaguid = models.CharField(max_length=36, blank=True)
    discoverable = models.BooleanField(default=False)
    backed_up = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return self.name


class RadiusServer(models.Model):
    """A RADIUS server Sekisho asks for MFA (RFC 2865), tried in ``position`` order.

    radius_admin adds and removes servers; both forget the request's memo of whether any
    exists (SERVERS_MEMO).
    """

    name = models.CharField(max_length=64, unique=True)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(default=1812)
    timeout = models.FloatField(default=5.0)
    retries = models.PositiveSmallIntegerField(default=1)
    # AES-256-GCM token from sekisho.crypto.SecretBox; never the plain shared secret.
    sealed_secret = models.CharField(max_length=1024)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} ({self.host}:{self.port})"


class RadiusAccount(models.Model):
    """A user's RADIUS identity: the username sent to the server, and whether it is confirmed."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="radius_account"
    )
    # Empty means the Sekisho username is sent as User-Name.
    radius_username = models.CharField(max_length=253, blank=True)
    name = models.CharField(max_length=64, blank=True)
    confirmed_at = models.DateTimeField(null=True)
    last_used_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return self.radius_username or str(self.user_id)


class RecoveryCode(models.Model):
    """One single-use recovery code, stored as a keyed hash (never the code itself)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes"
    )
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["user", "digest"], name="recovery_code_unique"),
        ]


class TrustedDevice(models.Model):
    """A browser a user chose to trust after MFA (context-aware mode), revocable at any time."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="trusted_devices"
    )
    public_id = models.CharField(max_length=64, unique=True)
    # SHA-256 of the cookie's secret half: a database reader cannot forge the cookie.
    token_digest = models.CharField(max_length=64)
    user_agent = models.CharField(max_length=512, blank=True)
    created_ip = models.GenericIPAddressField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True)
    revoked_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return self.public_id


class KnownAddress(models.Model):
    """A source address from which a user already passed MFA (context-aware mode)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="known_addresses"
    )
    address = models.GenericIPAddressField()
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["user", "address"], name="known_address_unique"),
        ]
