"""Django app configuration of the saml context."""

from django.apps import AppConfig


class SamlConfig(AppConfig):
    """The saml bounded context."""

    name = "sekisho.saml"
    label = "saml"
    default_auto_field = "django.db.models.BigAutoField"
