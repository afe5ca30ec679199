"""SAML storage: applications (service providers), their assignments, pending AuthnRequests."""

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
    # [{"name", "value", "name_format"}] in Identity Center's mapping syntax.
    attribute_mappings = models.JSONField(default=list)
    sign_response = models.BooleanField(default=False)
    want_authn_requests_signed = models.BooleanField(default=False)
    # Step-up: a launch needs MFA in this session even when context-aware mode skipped it.
    require_mfa = models.BooleanField(default=False)
    # PEM certificates from the SP's metadata, for signed AuthnRequests.
    sp_certificates = models.JSONField(default=list)
    sp_metadata = models.TextField(blank=True, default="")
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
