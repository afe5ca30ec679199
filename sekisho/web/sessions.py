"""Sessions in the database (any worker, any node), read in plain SQL on every request.

Django's database session store, except that loading a session (the one query every
signed-in request makes) is a plain parameterised SELECT: the ORM's compilation of it
cost more than the query (README, Performance). Saving, expiry and deletion are Django's.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import connection
from django.utils import timezone


class SessionStore(DatabaseSessionStore):
    """Django's database session store with a plain-SQL load."""

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
