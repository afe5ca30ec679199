"""Django app configuration of the access context."""

from django.apps import AppConfig


class AccessConfig(AppConfig):
    """The IdP's stored policies, their attachments and the audited access decisions."""

    name = "sekisho.access"
    label = "access"
    default_auto_field = "django.db.models.BigAutoField"
