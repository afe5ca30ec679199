"""Errors of the directory context; the web layer maps each ``code`` to a message and a status."""

from __future__ import annotations

from sekisho.errors import SekishoError


class DirectoryError(SekishoError):
    """Root of every directory error."""

    code = "directory_error"


class InvalidUsername(DirectoryError):
    """A username breaks the username rules."""

    code = "invalid_username"


class InvalidEmail(DirectoryError):
    """An email address is not a plausible mailbox address."""

    code = "invalid_email"


class InvalidDisplayName(DirectoryError):
    """A display name is empty, too long or holds control characters."""

    code = "invalid_display_name"


class InvalidGroupName(DirectoryError):
    """A group name breaks the group name rules."""

    code = "invalid_group_name"


class WeakPassword(DirectoryError):
    """A new password fails the password policy (NIST SP 800-63B-4 §3.1.1.2).

    ``problems`` holds every reason (``rules.PasswordProblem``: a code and its
    parameters), so a page can translate each.
    """

    code = "weak_password"

    def __init__(self, message: str, *, problems: tuple[object, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


class UserNotFound(DirectoryError):
    """No user has that username or id."""

    code = "user_not_found"


class UserExists(DirectoryError):
    """A user with that username already exists."""

    code = "user_exists"


class GroupNotFound(DirectoryError):
    """No group has that name."""

    code = "group_not_found"


class GroupExists(DirectoryError):
    """A group with that name already exists."""

    code = "group_exists"


class AccountLocked(DirectoryError):
    """Too many failed sign-ins; try again after ``retry_after_seconds``."""

    code = "account_locked"

    def __init__(
        self, message: str = "too many failed sign-ins", *, retry_after_seconds: int = 0
    ) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class SignInFailed(DirectoryError):
    """Generic sign-in failure: unknown user, wrong password or disabled look the same."""

    code = "sign_in_failed"

    def __init__(self, message: str = "the username or password is not correct") -> None:
        super().__init__(message)


class UserDisabled(DirectoryError):
    """The user is disabled (for admin paths; sign-in reports SignInFailed instead)."""

    code = "user_disabled"


class InvalidTimeZone(DirectoryError):
    """A time zone is not an IANA zone name this system knows."""

    code = "invalid_time_zone"


class PasswordReused(DirectoryError):
    """A new password equals the one it replaces."""

    code = "password_reused"
