"""Django app configuration of the directory context."""

from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    """Users, groups, application assignments and password sign-in."""

    name = "sekisho.directory"
    label = "directory"
    default_auto_field = "django.db.models.BigAutoField"
