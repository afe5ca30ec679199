"""Stored IdP policies (IAM policy language) and where they are attached."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models


class StoredPolicy(models.Model):
    """A named policy document governing sekisho:SignIn and sekisho:LaunchApplication."""

    name = models.CharField(max_length=128, unique=True)
    description = models.CharField(max_length=1000, blank=True, default="")
    # The document exactly as the administrator wrote it (validated before saving).
    document = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["name"]

    def __str__(self) -> str:
        return self.name


class PolicyAttachment(models.Model):
    """A policy attached to the whole IdP, a group, a user or an application.

    Applications are named as policies name them (``arn:sekisho:::application/<name>``),
    not by a foreign key: they belong to the saml context above this one, which detaches
    an application's policies when it deletes the application.
    """

    TARGET_IDP = "idp"
    TARGET_GROUP = "group"
    TARGET_USER = "user"
    TARGET_APPLICATION = "application"
    TARGET_CHOICES: ClassVar[list[tuple[str, str]]] = [
        (TARGET_IDP, "identity provider"),
        (TARGET_GROUP, "group"),
        (TARGET_USER, "user"),
        (TARGET_APPLICATION, "application"),
    ]

    policy = models.ForeignKey(StoredPolicy, on_delete=models.CASCADE, related_name="attachments")
    target = models.CharField(max_length=16, choices=TARGET_CHOICES)
    user = models.ForeignKey(
        "directory.User", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    group = models.ForeignKey(
        "directory.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    application = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar[list[Any]] = [
            # One attachment per target: partial indexes work on SQLite and PostgreSQL alike.
            models.UniqueConstraint(
                fields=["policy"],
                condition=models.Q(target="idp"),
                name="access_policy_once_on_idp",
            ),
            models.UniqueConstraint(
                fields=["policy", "group"],
                condition=models.Q(target="group"),
                name="access_policy_once_per_group",
            ),
            models.UniqueConstraint(
                fields=["policy", "user"],
                condition=models.Q(target="user"),
                name="access_policy_once_per_user",
            ),
            models.UniqueConstraint(
                fields=["policy", "application"],
                condition=models.Q(target="application"),
                name="access_policy_once_per_application",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(target="idp", user__isnull=True, group__isnull=True, application="")
                    | models.Q(
                        target="group", user__isnull=True, group__isnull=False, application=""
                    )
                    | models.Q(
                        target="user", user__isnull=False, group__isnull=True, application=""
                    )
                    | (
                        models.Q(target="application", user__isnull=True, group__isnull=True)
                        & ~models.Q(application="")
                    )
                ),
                name="access_attachment_one_target",
            ),
        ]
        indexes: ClassVar[list[Any]] = [
            models.Index(fields=["target", "application"], name="access_attachment_by_app"),
        ]


class PolicyGeneration(models.Model):
    """One row naming the current state of stored policies and attachments (a cache's validator).

    Every node keeps its compiled attachments in memory and reads this token once per
    decision: when anyone has changed a policy or an attachment, the token differs and the
    node reloads. A random token rather than a counter: a change that is rolled back must
    never leave a cache that a later change could match. The truth stays in the database.
    """

    token = models.CharField(max_length=32)
