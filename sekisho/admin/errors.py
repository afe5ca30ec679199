"""Errors of the admin context; the console and the API map each ``code`` to a page or problem."""

from __future__ import annotations

from sekisho.errors import SekishoError


class AdminError(SekishoError):
    """Root of every admin error."""

    code = "admin_error"


class InvalidRole(AdminError):
    """A role name that is not admin, helpdesk or auditor."""

    code = "invalid_role"


class AccessRefused(AdminError):
    """An access decision refused the request; ``reason`` says which check failed."""

    code = "access_refused"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class TokenError(AdminError):
    """An API token cannot be created, found or used."""

    code = "token_error"


class InvalidToken(TokenError):
    """A bearer token that is malformed, unknown, revoked or expired (one answer for all)."""

    code = "invalid_token"


class RateLimited(AdminError):
    """Too many requests for one token (or one address without a valid token)."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class NotFound(AdminError):
    """The named thing does not exist."""

    code = "not_found"


class Conflict(AdminError):
    """The change conflicts with the current state (exists already, still in use)."""

    code = "conflict"


class PreconditionFailed(AdminError):
    """An If-Match that no longer matches: someone else changed the resource first."""

    code = "precondition_failed"


class PreconditionRequired(AdminError):
    """An update without If-Match: it could silently overwrite someone else's change."""

    code = "precondition_required"


class ImportInvalid(AdminError):
    """A CSV import has bad rows and was not applied (nothing changed)."""

    code = "import_invalid"


class InvalidInput(AdminError):
    """A value an administrator gave is not acceptable; ``field`` names it."""

    code = "invalid_input"

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field
