"""Sessions in the database (any worker, any node), read in plain SQL on every request.

Django's database session store, except that loading a session (the one query every
signed-in request makes) is a plain parameterised SELECT: the ORM's compilation of it
cost more than the query (README, Performance); and a key cycled at sign-in (no session
fixation) is written once, when the request's session is saved, not inserted at once and
updated again. Expiry is Django's.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError, UpdateError
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import connection
from django.utils import timezone
from django.utils.crypto import get_random_string


class SessionStore(DatabaseSessionStore):
    """Django's database session store with a plain-SQL load and a cycle written once."""

    # A key from cycle_key that is not in the database yet: the next save inserts it.
    _unstored = False

    def cycle_key(self) -> None:
        """A new key for the same data; the old row is deleted now, the new one inserted once.

        Django's own inserts the new row at once (after checking the key is free) and the
        response updates it again: four statements more for every sign-in. A 32-character
        random key (about 165 bits) is not checked first: the insert's unique key refuses
        the collision that never comes, and the request fails rather than share a session.
        """
        data = dict(self.items())
        key = self.session_key
        self._session_key = get_random_string(32, VALID_KEY_CHARS)
        self._session_cache = data
        self._unstored = True
        self.modified = True
        if key:
            self.delete(key)

    def save(self, must_create: bool = False) -> None:
        """Django's save; a key from cycle_key is inserted (its first write), not updated."""
        if self._unstored and self.session_key is not None:
            try:
                super().save(must_create=True)
            except CreateError:
                # SessionMiddleware answers this as an interrupted session (400).
                raise UpdateError from None
            self._unstored = False
            return
        super().save(must_create=must_create)

    def _get_new_session_key(self) -> str:
        """A fresh random key, not looked up first (Django's asks the database each time).

        ``create()`` inserts it with must_create, so the unique key refuses a collision
        (CreateError) and Django's loop draws another: the lookup only cost a query.
        """
        return get_random_string(32, VALID_KEY_CHARS)

    def create(self) -> None:
        """A new session, stored at once (Django's); no cycled key is pending any more."""
        self._unstored = False
        super().create()

    def delete(self, session_key: str | None = None) -> None:
        """Delete a session row in one statement (Django's reads it first)."""
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        self.model.objects.filter(session_key=session_key).delete()

    def _get_session_from_db(self) -> Any:
        table = self.model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT session_data FROM {table} WHERE session_key = %s AND expire_date > %s",  # noqa: S608 - the table name is Django's
                [self.session_key, timezone.now()],
            )
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return None
        return SimpleNamespace(session_data=row[0])
