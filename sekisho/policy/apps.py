"""Django app configuration of the policy context (stored IdP policies and attachments)."""

from django.apps import AppConfig


class PolicyConfig(AppConfig):
    """The IAM-compatible policy language; the app part stores the IdP's own policies."""

    name = "sekisho.policy"
    label = "policy"
    default_auto_field = "django.db.models.BigAutoField"
