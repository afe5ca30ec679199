"""Django authentication backend that only resolves a signed-in session's user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import BaseBackend
from django.http import HttpRequest

from sekisho.directory.models import User


class DirectoryBackend(BaseBackend):
    """Loads users for sessions; password checks go through sekisho.directory.signin instead."""

    def authenticate(self, request: HttpRequest | None, **credentials: Any) -> None:
        """Never authenticates by itself: sign-in is one explicit, audited call elsewhere."""
        return None

    def get_user(self, user_id: Any) -> User | None:
        """The active user with this primary key, or None.

        Every signed-in request asks: a raw query (the ORM's compilation of this one cost
        three times its run), still turned into a model by Django with its converters.
        """
        try:
            pk = int(user_id)
        except (TypeError, ValueError):
            return None
        found = User.objects.raw(
            f"SELECT * FROM {User._meta.db_table} WHERE id = %s",  # noqa: S608 - the model's table
            [pk],
        )
        user = next(iter(found), None)
        return user if user is not None and user.is_active else None
