"""Portal storage: an index of signed-in sessions, so they can be listed and ended."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models


class SignedInSession(models.Model):
    """One browser session that completed a sign-in (the session itself is Django's).

    Sessions live in the database, so ending one here (deleting Django's row) signs that
    browser out on every node at its next request.
    """

    # Django's session key (the cookie's value): the same secret django_session holds.
    session_key = models.CharField(max_length=64, unique=True)
    # The public id of the sign-in (AuthState.session_id, the audit trail's credentialId).
    session_id = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField()
    source_ip = models.CharField(max_length=64, blank=True, default="")
    user_agent = models.CharField(max_length=512, blank=True, default="")
    mfa = models.BooleanField(default=False)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at"]
