"""Errors of the operations context."""

from __future__ import annotations

from sekisho.errors import SekishoError


class OpsError(SekishoError):
    """An operations facility (metrics directory, health check) cannot work as configured."""

    code = "ops_error"
