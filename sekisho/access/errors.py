"""Errors of the access context (stored IdP policies and their attachments)."""

from __future__ import annotations

from sekisho.errors import SekishoError


class AccessError(SekishoError):
    """Root of the access context's errors."""

    code = "access_error"


class StoredPolicyError(AccessError):
    """A stored-policy operation that cannot be done (unknown name, still attached, …)."""

    code = "idp_policy_error"
