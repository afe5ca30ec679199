"""Audit storage: an append-only table of CloudTrail-shaped records."""

from __future__ import annotations

from typing import Any, ClassVar, NoReturn

from django.db import models

from sekisho.audit.errors import AuditError


class AppendOnlyQuerySet(models.QuerySet["AuditRecord"]):
    """A queryset that refuses bulk updates and deletes."""

    def update(self, **kwargs: Any) -> NoReturn:
        """Audit records are never changed."""
        raise AuditError("audit records are append-only", code="append_only")

    def delete(self) -> NoReturn:
        """Audit records are never deleted through the application."""
        raise AuditError("audit records are append-only", code="append_only")


class AuditRecord(models.Model):
    """One audit event, stored as its CloudTrail-format record plus indexed columns."""

    event_id = models.UUIDField(unique=True)
    event_time = models.DateTimeField(db_index=True)
    event_source = models.CharField(max_length=64)
    event_name = models.CharField(max_length=64, db_index=True)
    outcome = models.CharField(max_length=16, blank=True, default="")
    user_uid = models.CharField(max_length=64, blank=True, default="", db_index=True)
    source_ip = models.CharField(max_length=64, blank=True, default="")
    record = models.JSONField()

    objects: ClassVar[models.Manager[AuditRecord]] = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering: ClassVar[list[str]] = ["id"]

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Insert only; an existing record is never rewritten."""
        if not self._state.adding:
            raise AuditError("audit records are append-only", code="append_only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Audit records are never deleted through the application."""
        raise AuditError("audit records are append-only", code="append_only")
