"""Django app configuration of the mfa context."""

from django.apps import AppConfig


class MfaConfig(AppConfig):
    """The mfa bounded context."""

    name = "sekisho.mfa"
    label = "mfa"
    default_auto_field = "django.db.models.BigAutoField"
