"""Django authentication backend that only resolves a signed-in session's user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import BaseBackend
from django.http import HttpRequest

from sekisho import rows
from sekisho.directory.models import User


class DirectoryBackend(BaseBackend):
    """Loads users for sessions; password checks go through sekisho.directory.signin instead."""

    def authenticate(self, request: HttpRequest | None, **credentials: Any) -> None:
        """Never authenticates by itself: sign-in is one explicit, audited call elsewhere."""
        return None

    def get_user(self, user_id: Any) -> User | None:
        """The active user with this primary key, or None.

        Every signed-in request asks: plain SQL (the ORM's compilation of this one cost
        three times its run), read as the ORM would.
        """
        try:
            pk = int(user_id)
        except (TypeError, ValueError):
            return None
        user = rows.first(User, "id = %s", [pk])
        return user if user is not None and user.is_active else None
