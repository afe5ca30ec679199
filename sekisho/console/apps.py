"""Django app configuration of the console context."""

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The administration console (pages and templates at /admin)."""

    name = "sekisho.console"
    label = "console"
    default_auto_field = "django.db.models.BigAutoField"
