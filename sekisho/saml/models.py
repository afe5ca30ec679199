"""SAML storage: applications (SPs), assignments, pending AuthnRequests, SP sessions, logouts."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class Application(models.Model):
    """A SAML 2.0 service provider users can launch from the portal or that sends AuthnRequests."""

    KIND_AMAZON_CONNECT = "amazon-connect"
    KIND_AWS_CONSOLE = "aws-console"
    KIND_SAML = "saml"
    # Labels are shown on My applications, in the person's language.
    KIND_CHOICES: ClassVar[list[tuple[str, str | Promise]]] = [
        (KIND_AMAZON_CONNECT, "Amazon Connect"),
        (KIND_AWS_CONSOLE, _("AWS console")),
        (KIND_SAML, _("SAML 2.0 application")),
    ]

    name = models.CharField(max_length=64, unique=True)
    display_name = models.CharField(max_length=128)
    kind = models.CharField(max_length=32, choices=KIND_CHOICES)
    entity_id = models.CharField(max_length=1024)
    # Every HTTP-POST AssertionConsumerService of the SP: [{"url", "index", "default"}].
    acs_endpoints = models.JSONField(default=list)
    relay_state = models.CharField(max_length=2048, blank=True, default="")
    name_id_format = models.CharField(max_length=256)
    name_id_expression = models.CharField(max_length=256, default="${user:username}")
    # Formats an SP may ask for in NameIDPolicy besides name_id_format and the opaque
    # persistent and transient (services.allowed_name_id_formats): those it declares.
    name_id_formats = models.JSONField(default=list)
    # [{"name", "value", "name_format"}] in Identity Center's mapping syntax.
    attribute_mappings = models.JSONField(default=list)
    sign_response = models.BooleanField(default=False)
    want_authn_requests_signed = models.BooleanField(default=False)
    # Step-up: a launch needs MFA in this session even when context-aware mode skipped it.
    require_mfa = models.BooleanField(default=False)
    # PEM certificates from the SP's metadata, for signed AuthnRequests.
    sp_certificates = models.JSONField(default=list)
    sp_metadata = models.TextField(blank=True, default="")
    # Encryption: the SP's keys and md:EncryptionMethod list from its metadata, whether to
    # encrypt ("auto": when the SP publishes a key) and an optional algorithm override.
    sp_encryption_certificates = models.JSONField(default=list)
    encryption_methods = models.JSONField(default=list)
    encrypt_assertions = models.CharField(max_length=8, default="auto")
    encryption_algorithm = models.CharField(max_length=128, blank=True, default="")
    # The SP's HTTP-Redirect / HTTP-POST SingleLogoutService: [{"binding", "url", "response_url"}].
    slo_endpoints = models.JSONField(default=list)
    # Metadata fetched from a URL (app create-saml --metadata-url, app refresh).
    metadata_url = models.CharField(max_length=2048, blank=True, default="")
    metadata_certificate = models.TextField(blank=True, default="")
    metadata_valid_until = models.DateTimeField(null=True, blank=True)
    metadata_refreshed_at = models.DateTimeField(null=True, blank=True)
    metadata_refresh_error = models.CharField(max_length=1024, blank=True, default="")
    # The preset's own parameters (region, instance id, …), shown by `app show`.
    preset = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["name"]

    def __str__(self) -> str:
        return self.name

    def default_acs(self) -> str:
        """The default ACS (saml-metadata §2.2.3): isDefault="true", else the first not false."""
        endpoints: list[dict[str, Any]] = list(self.acs_endpoints)
        if not endpoints:
            return ""
        for endpoint in endpoints:
            if endpoint.get("default") is True:
                return str(endpoint["url"])
        for endpoint in endpoints:
            if endpoint.get("default") is None:
                return str(endpoint["url"])
        return str(endpoints[0]["url"])


class PendingAuthnRequest(models.Model):
    """An SP's AuthnRequest waiting for the user to sign in (kept in the DB, not in memory)."""

    token = models.CharField(max_length=64, unique=True)
    application = models.ForeignKey(Application, on_delete=models.CASCADE)
    request_id = models.CharField(max_length=256)
    acs_url = models.CharField(max_length=2048)
    relay_state = models.CharField(max_length=1024, blank=True, default="")
    force_authn = models.BooleanField(default=False)
    is_passive = models.BooleanField(default=False)
    requested_contexts = models.JSONField(default=list)
    authn_context_comparison = models.CharField(max_length=16, default="exact")
    name_id_format = models.CharField(max_length=256, blank=True, default="")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    completed = models.BooleanField(default=False)

    class Meta:
        constraints: ClassVar[list[Any]] = [
            # One AuthnRequest ID per SP: a replayed request is refused.
            models.UniqueConstraint(
                fields=["application", "request_id"], name="authnrequest_unique_id"
            )
        ]


class Assignment(models.Model):
    """A user or a group allowed to launch an application."""

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="assignments"
    )
    user = models.ForeignKey(
        "directory.User", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    group = models.ForeignKey(
        "directory.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar[list[Any]] = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, group__isnull=True)
                    | models.Q(user__isnull=True, group__isnull=False)
                ),
                name="saml_assignment_user_xor_group",
            ),
            models.UniqueConstraint(
                fields=["application", "user"], name="saml_assignment_unique_user"
            ),
            models.UniqueConstraint(
                fields=["application", "group"], name="saml_assignment_unique_group"
            ),
        ]


class SpSession(models.Model):
    """One SP's part of a portal session: what it was told, so single logout can name it.

    Kept in the database (any node answers the logout): the NameID and SessionIndex
    exactly as issued (saml-profiles §4.4.4.1), and the portal session they belong to.
    """

    application = models.ForeignKey(Application, on_delete=models.CASCADE)
    user = models.ForeignKey("directory.User", on_delete=models.CASCADE, related_name="+")
    # The portal session's public id (AuthState.session_id) and its Django session key.
    portal_session_id = models.CharField(max_length=64, db_index=True)
    session_key = models.CharField(max_length=64, blank=True, default="")
    session_index = models.CharField(max_length=64)
    name_id = models.CharField(max_length=1024)
    name_id_format = models.CharField(max_length=256)
    sp_name_qualifier = models.CharField(max_length=1024, blank=True, default="")
    created_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(
                fields=["application", "portal_session_id"], name="saml_spsession_unique"
            )
        ]


class LogoutOperation(models.Model):
    """A single logout in progress across SPs (front channel: the browser goes to each in turn).

    ``steps`` holds one entry per SP session: {"app", "name", "state", "request_id"} with
    state pending, sent, done, failed or unsupported (no SingleLogoutService).
    """

    token = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(
        "directory.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    portal_session_id = models.CharField(max_length=64, blank=True, default="")
    # Set when an SP started the logout: it gets the final LogoutResponse.
    origin = models.ForeignKey(Application, null=True, blank=True, on_delete=models.SET_NULL)
    origin_request_id = models.CharField(max_length=256, blank=True, default="")
    origin_relay_state = models.CharField(max_length=1024, blank=True, default="")
    steps = models.JSONField(default=list)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    completed = models.BooleanField(default=False)
