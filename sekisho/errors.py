"""The one exception root of Sekisho; every context's errors.py derives from it."""

from __future__ import annotations


class SekishoError(Exception):
    """Root of every error Sekisho raises on purpose.

    ``code`` is stable and machine-readable; ``str(error)`` is a one-line message that
    says what was expected and what was found.
    """

    code: str = "sekisho_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        """The one-line human message."""
        return str(self.args[0]) if self.args else self.code


class ConfigError(SekishoError):
    """A missing or malformed configuration value; start-up stops on it."""

    code = "config_error"


class BackupError(SekishoError):
    """A backup or restore that cannot be made; nothing was left half done."""

    code = "backup_error"
