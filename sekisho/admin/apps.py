"""Django app configuration of the admin context."""

from django.apps import AppConfig


class AdminConfig(AppConfig):
    """The administration bounded context (roles, API tokens, administrative services)."""

    name = "sekisho.admin"
    label = "sekisho_admin"
    default_auto_field = "django.db.models.BigAutoField"
