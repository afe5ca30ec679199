"""Errors of the audit context."""

from __future__ import annotations

from sekisho.errors import SekishoError


class AuditError(SekishoError):
    """An audit event could not be built or stored as asked."""

    code = "audit_error"
