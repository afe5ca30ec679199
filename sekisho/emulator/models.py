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
    # RoleLastUsed: when and where the role was last assumed (none until it is).
    last_used = models.DateTimeField(null=True, blank=True)
    last_used_region = models.CharField(max_length=32, blank=True, default="")

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
    # Owner: a session of a role when session_role_arn is set (role is None once that role
    # is deleted: the session outlives it, with no permissions, as in AWS), else the root.
    role = models.ForeignKey(
        Role, on_delete=models.SET_NULL, null=True, blank=True, related_name="session_keys"
    )
    # The role as it was when the session began: its ARN and unique id (AROA…). A role of
    # the same name made later has another id, so its permissions never reach this session.
    session_role_arn = models.CharField(max_length=2048, blank=True, default="")
    session_role_unique_id = models.CharField(max_length=21, blank=True, default="")
    session_name = models.CharField(max_length=64, blank=True, default="")
    session_token_sha256 = models.CharField(max_length=64, blank=True, default="")
    expiration = models.DateTimeField(null=True, blank=True)
    # The session policy passed to AssumeRoleWithSAML (``Policy``), as validated JSON text;
    # the session's permissions are the intersection with the role's ("Session policies").
    session_policy = models.TextField(null=True, blank=True)
    # The managed session policies passed as ``PolicyArns``: [ARN, document] pairs, the
    # documents as they were when the session began (AWS packs them into the token).
    session_managed_policies = models.JSONField(default=list)
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
    """A managed policy (``Policy`` data type); its documents are its versions.

    A customer managed policy belongs to an account; an AWS managed one (``account`` None,
    ``arn:aws:iam::aws:policy/…``) is shared by every account and never changes.
    """

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, null=True, blank=True, related_name="policies"
    )
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


class UsedAssertion(models.Model):
    """A SAML assertion ID already redeemed by AssumeRoleWithSAML (replay guard)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="used_assertions")
    assertion_id = models.CharField(max_length=256)
    # After this instant the assertion is refused as expired anyway, so the row may go.
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "assertion_id"], name="emulator_used_assertion_id"
            )
        ]

    def __str__(self) -> str:
        return self.assertion_id


# --- Amazon Connect ("Amazon Connect API Reference", data types ``Instance``, ``User``,
# ``SecurityProfileSummary``, ``RoutingProfileSummary``) -----------------------------------


class ConnectInstance(models.Model):
    """An Amazon Connect instance; its identity management type never changes."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="connect_instances")
    instance_id = models.CharField(max_length=36, unique=True)
    region = models.CharField(max_length=32)
    arn = models.CharField(max_length=2048, unique=True)
    alias = models.CharField(max_length=45, blank=True, default="")
    # Aliases name a domain (``<alias>.my.connect.aws``), so they compare case-insensitively.
    alias_key = models.CharField(max_length=45, blank=True, default="")
    identity_management_type = models.CharField(max_length=32)
    directory_id = models.CharField(max_length=12, blank=True, default="")
    inbound_calls_enabled = models.BooleanField()
    outbound_calls_enabled = models.BooleanField()
    status = models.CharField(max_length=32, default="ACTIVE")
    tags = models.JSONField(default=dict)
    created = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "alias_key"],
                condition=~models.Q(alias_key=""),
                name="emulator_connect_instance_alias",
            )
        ]

    def __str__(self) -> str:
        return self.arn


class ConnectSecurityProfile(models.Model):
    """A security profile of a Connect instance (the defaults are made with the instance)."""

    instance = models.ForeignKey(
        ConnectInstance, on_delete=models.CASCADE, related_name="security_profiles"
    )
    profile_id = models.CharField(max_length=36, unique=True)
    arn = models.CharField(max_length=2048, unique=True)
    name = models.CharField(max_length=127)
    created = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "name"], name="emulator_connect_security_profile_name"
            )
        ]

    def __str__(self) -> str:
        return self.arn


class ConnectRoutingProfile(models.Model):
    """A routing profile of a Connect instance (``Basic Routing Profile`` comes with it)."""

    instance = models.ForeignKey(
        ConnectInstance, on_delete=models.CASCADE, related_name="routing_profiles"
    )
    profile_id = models.CharField(max_length=36, unique=True)
    arn = models.CharField(max_length=2048, unique=True)
    name = models.CharField(max_length=127)
    created = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "name"], name="emulator_connect_routing_profile_name"
            )
        ]

    def __str__(self) -> str:
        return self.arn


class ConnectUser(models.Model):
    """A Connect user (agent); with SAML its username is the role session name."""

    instance = models.ForeignKey(ConnectInstance, on_delete=models.CASCADE, related_name="users")
    user_id = models.CharField(max_length=36, unique=True)
    arn = models.CharField(max_length=2048, unique=True)
    username = models.CharField(max_length=100)
    first_name = models.CharField(max_length=255, blank=True, default="")
    last_name = models.CharField(max_length=255, blank=True, default="")
    email = models.CharField(max_length=255, blank=True, default="")
    directory_user_id = models.CharField(max_length=256, blank=True, default="")
    phone_config = models.JSONField(default=dict)
    security_profiles = models.ManyToManyField(ConnectSecurityProfile, related_name="users")
    routing_profile = models.ForeignKey(
        ConnectRoutingProfile, on_delete=models.PROTECT, related_name="users"
    )
    hierarchy_group_id = models.CharField(max_length=36, blank=True, default="")
    tags = models.JSONField(default=dict)
    created = models.DateTimeField()
    updated = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "username"], name="emulator_connect_user_username"
            )
        ]

    def __str__(self) -> str:
        return self.arn


class ConsoleSession(models.Model):
    """A browser's emulated AWS console session, made by a SAML sign-in at ``/aws/saml``.

    The cookie holds a random id; only its SHA-256 is stored. The session acts as the role
    session whose ``ASIA`` key STS issued, and ends when that key expires.
    """

    session_id_sha256 = models.CharField(max_length=64, unique=True)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="console_sessions")
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="console_sessions")
    session_name = models.CharField(max_length=64)
    access_key = models.ForeignKey(
        AccessKey, on_delete=models.CASCADE, related_name="console_sessions"
    )
    saml_provider_arn = models.CharField(max_length=2048)
    expires = models.DateTimeField(db_index=True)
    created = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.role.arn}/{self.session_name}"


class EmergencySession(models.Model):
    """A browser's emergency-access session on one Connect instance (account root sign-in).

    The cookie holds a random id; only its SHA-256 is stored (aws-semantics §2).
    """

    session_id_sha256 = models.CharField(max_length=64, unique=True)
    instance = models.ForeignKey(
        ConnectInstance, on_delete=models.CASCADE, related_name="emergency_sessions"
    )
    access_key = models.ForeignKey(
        AccessKey, on_delete=models.CASCADE, related_name="emergency_sessions"
    )
    expires = models.DateTimeField(db_index=True)
    created = models.DateTimeField()

    def __str__(self) -> str:
        return f"emergency access to {self.instance.instance_id}"


class ConnectAuthenticationProfile(models.Model):
    """An instance's authentication profile: its IP address rules and session timeouts.

    ``AllowedIps`` / ``BlockedIps`` are Amazon Connect's own IP restriction ("Configure IP
    address based access control", Connect Administrator Guide); every instance has a
    default profile that applies to all its users.
    """

    instance = models.ForeignKey(
        ConnectInstance, on_delete=models.CASCADE, related_name="authentication_profiles"
    )
    profile_id = models.CharField(max_length=36, unique=True)
    arn = models.CharField(max_length=2048, unique=True)
    name = models.CharField(max_length=128)
    description = models.CharField(max_length=250, blank=True, default="")
    allowed_ips = models.JSONField(default=list)
    blocked_ips = models.JSONField(default=list)
    is_default = models.BooleanField(default=False)
    periodic_session_duration = models.PositiveIntegerField(default=60)
    max_session_duration = models.PositiveIntegerField(default=720)
    session_inactivity_duration = models.PositiveIntegerField(null=True, blank=True)
    session_inactivity_handling = models.BooleanField(default=False)
    created = models.DateTimeField()
    updated = models.DateTimeField()
    updated_region = models.CharField(max_length=32)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["instance"],
                condition=models.Q(is_default=True),
                name="emulator_connect_default_authentication_profile",
            )
        ]

    def __str__(self) -> str:
        return self.arn
