"""Django app configuration of the portal context."""

from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The portal bounded context."""

    name = "sekisho.portal"
    label = "portal"
    default_auto_field = "django.db.models.BigAutoField"
