"""Django app configuration of the audit context."""

from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The audit bounded context."""

    name = "sekisho.audit"
    label = "audit"
    default_auto_field = "django.db.models.BigAutoField"
