"""Stored state of the emulated AWS side: accounts, access keys and IAM entities.

Every piece of state lives here, never in process memory, so any web worker answers
any request ("Scaling out" in the architecture notes). Names follow IAM's own
("IAM API Reference", data types ``Role``, ``Policy``, ``PolicyVersion``,
``SAMLProviderListEntry``, ``AccessKey``).
"""

from __future__ import annotations

from django.db import models

MAX_POLICY_VERSIONS = 5  # "IAM and AWS STS quotas": managed policy versions


class Account(models.Model):
    """One emulated AWS account (12-digit id, optional alias)."""

    account_id = models.CharField(max_length=12, unique=True)
    alias = models.CharField(max_length=63, blank=True, default="")
    created = models.DateTimeField()

    def __str__(self) -> str:
        return self.account_id

    @property
    def root_arn(self) -> str:
        """The account root user's ARN."""
        return f"arn:aws:iam::{self.account_id}:root"


class Role(models.Model):
    """An IAM role (``Role`` data type)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="roles")
    name = models.CharField(max_length=64)
    # Role names are unique per account regardless of case ("IAM identifiers").
    name_key = models.CharField(max_length=64)
    path = models.CharField(max_length=512, default="/")
    arn = models.CharField(max_length=2048, unique=True)
    role_id = models.CharField(max_length=21, unique=True)
    trust_policy = models.TextField()
    description = models.CharField(max_length=1000, blank=True, default="")
    max_session_duration = models.PositiveIntegerField(default=3600)
    tags = models.JSONField(default=list)
    created = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "name_key"], name="emulator_role_name")
        ]

    def __str__(self) -> str:
        return self.arn


class AccessKey(models.Model):
    """An access key: long-term (``AKIA``, the account root) or a role session's (``ASIA``)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="access_keys")
    access_key_id = models.CharField(max_length=128, unique=True)
    # SecretBox token; its context binds the access key id, so it opens for no other row.
    sealed_secret = models.TextField()
    status = models.CharField(max_length=8, default="Active")
    # Owner: the account root when role is None, else a session of that role.
    role = models.ForeignKey(
        Role, on_delete=models.CASCADE, null=True, blank=True, related_name="session_keys"
    )
    session_name = models.CharField(max_length=64, blank=True, default="")
    session_token_sha256 = models.CharField(max_length=64, blank=True, default="")
    expiration = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField()

    def __str__(self) -> str:
        return self.access_key_id


class SamlProvider(models.Model):
    """An IAM SAML identity provider (``CreateSAMLProvider``)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="saml_providers")
    name = models.CharField(max_length=128)
    arn = models.CharField(max_length=2048, unique=True)
    uuid = models.CharField(max_length=36, unique=True)
    metadata_document = models.TextField()
    # What STS needs without re-reading the document: the IdP's entityID and its keys.
    entity_id = models.CharField(max_length=1024)
    signing_certificates = models.JSONField(default=list)
    valid_until = models.DateTimeField()
    tags = models.JSONField(default=list)
    created = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="emulator_saml_provider_name")
        ]

    def __str__(self) -> str:
        return self.arn


class ManagedPolicy(models.Model):
    """A customer managed policy (``Policy`` data type); its documents are its versions."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="policies")
    name = models.CharField(max_length=128)
    name_key = models.CharField(max_length=128)
    path = models.CharField(max_length=512, default="/")
    arn = models.CharField(max_length=2048, unique=True)
    policy_id = models.CharField(max_length=21, unique=True)
    description = models.CharField(max_length=1000, blank=True, default="")
    default_version_id = models.CharField(max_length=16, default="v1")
    # IAM never reuses a version number, even after DeletePolicyVersion.
    next_version = models.PositiveIntegerField(default=1)
    attachment_count = models.PositiveIntegerField(default=0)
    tags = models.JSONField(default=list)
    created = models.DateTimeField()
    updated = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "name_key"], name="emulator_policy_name")
        ]

    def __str__(self) -> str:
        return self.arn


class PolicyVersion(models.Model):
    """One version (``v1``, ``v2``, …) of a managed policy's document."""

    policy = models.ForeignKey(ManagedPolicy, on_delete=models.CASCADE, related_name="versions")
    version_id = models.CharField(max_length=16)
    document = models.TextField()
    is_default = models.BooleanField(default=False)
    created = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "version_id"], name="emulator_policy_version_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.policy.arn}:{self.version_id}"


class RoleAttachment(models.Model):
    """A managed policy attached to a role."""

    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="attachments")
    policy = models.ForeignKey(
        ManagedPolicy, on_delete=models.PROTECT, related_name="role_attachments"
    )
    created = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["role", "policy"], name="emulator_role_attachment")
        ]


class RolePolicy(models.Model):
    """An inline policy embedded in a role (``PutRolePolicy``)."""

    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="inline_policies")
    name = models.CharField(max_length=128)
    document = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["role", "name"], name="emulator_role_policy_name")
        ]
