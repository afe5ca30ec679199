"""Django app configuration of the mfa context."""

from importlib import import_module

from django.apps import AppConfig

# Each module registers its method in sekisho.mfa.methods.REGISTRY when imported.
METHOD_MODULES = (
    "sekisho.mfa.backends.totp",
    "sekisho.mfa.backends.recovery",
    "sekisho.mfa.backends.radius",
    "sekisho.mfa.backends.webauthn",
)


class MfaConfig(AppConfig):
    """The mfa bounded context."""

    name = "sekisho.mfa"
    label = "mfa"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the MFA methods."""
        for module in METHOD_MODULES:
            import_module(module)
