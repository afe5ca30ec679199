"""Django app configuration of the emulator context (the local stand-in of the AWS side)."""

from django.apps import AppConfig


class EmulatorConfig(AppConfig):
    """The emulated AWS account: IAM entities and access keys, stored in the database."""

    name = "sekisho.emulator"
    label = "emulator"
    default_auto_field = "django.db.models.BigAutoField"
