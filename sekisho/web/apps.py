"""Django app configuration of the shared web layer (its templates and static files)."""

from django.apps import AppConfig


class WebConfig(AppConfig):
    """HTTP glue every face of Sekisho shares: pages' layout, errors, sessions, outcomes."""

    name = "sekisho.web"
    label = "web"
