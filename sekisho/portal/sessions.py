"""Signed-in sessions: recorded at sign-in, listed and ended by administrators (any node).

Nothing here audits: the caller that ends a session on someone's behalf records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import transaction

from sekisho.audit.writer import RequestContext
from sekisho.directory.models import User
from sekisho.portal.models import SignedInSession
from sekisho.web.session import AUTH_KEY, AuthState


def record(session_key: str, user: User, auth: AuthState, context: RequestContext) -> None:
    """Remember a completed sign-in's session (its key, public id, origin)."""
    # A fresh key (login cycles it) and a fresh public id: one INSERT, nothing to update.
    SignedInSession.objects.create(
        session_key=session_key,
        session_id=auth.session_id,
        user=user,
        created_at=datetime.fromtimestamp(auth.auth_time, tz=UTC),
        source_ip=context.source_ip[:64],
        user_agent=context.user_agent[:512],
        mfa=auth.mfa,
    )


def update_mfa(session_key: str, mfa: bool) -> None:
    """A step-up added MFA to a recorded session."""
    SignedInSession.objects.filter(session_key=session_key).update(mfa=mfa)


def forget(session_key: str | None) -> None:
    """The session ended (sign-out): drop it from the index."""
    if session_key:
        SignedInSession.objects.filter(session_key=session_key).delete()


@dataclass(frozen=True)
class ActiveSession:
    """A session that still signs its browser in (nothing secret: no session key)."""

    session_id: str
    user_id: int
    username: str
    created_at: datetime
    last_seen: datetime
    source_ip: str
    user_agent: str
    mfa: bool


def _last_seen(session: Session, now: datetime) -> datetime | None:
    """When the session was last used, or None when it no longer signs anyone in."""
    if session.expire_date <= now:
        return None
    data = SessionStore().decode(session.session_data)
    auth = data.get(AUTH_KEY)
    if not isinstance(auth, dict):
        return None
    started = float(auth.get("auth_time", 0))
    seen = data.get("last_seen", started)
    last = float(seen) if isinstance(seen, int | float) else started
    stamp = now.timestamp()
    if stamp - last > int(settings.SEKISHO_SESSION_IDLE_SECONDS):
        return None
    if stamp - started > int(settings.SEKISHO_SESSION_ABSOLUTE_SECONDS):
        return None
    return datetime.fromtimestamp(last, tz=UTC)


def active_sessions(*, now: datetime, user: User | None = None) -> list[ActiveSession]:
    """Sessions that still sign someone in, newest first; forgets those that ended."""
    rows = SignedInSession.objects.select_related("user")
    if user is not None:
        rows = rows.filter(user=user)
    rows_list = list(rows)
    stored = {
        s.session_key: s
        for s in Session.objects.filter(session_key__in=[r.session_key for r in rows_list])
    }
    found, ended = [], []
    for row in rows_list:
        session = stored.get(row.session_key)
        seen = _last_seen(session, now) if session is not None else None
        if seen is None:
            ended.append(row.pk)
            continue
        found.append(
            ActiveSession(
                session_id=row.session_id,
                user_id=row.user_id,
                username=row.user.username,
                created_at=row.created_at,
                last_seen=seen,
                source_ip=row.source_ip,
                user_agent=row.user_agent,
                mfa=row.mfa,
            )
        )
    if ended:
        SignedInSession.objects.filter(pk__in=ended).delete()
    return found


def revoke(session_id: str) -> User | None:
    """End one session by its public id; returns its user, or None when there was none.

    A session that ended elsewhere (single logout deletes Django's row by its key, expiry)
    leaves its index row behind: that row goes, and nothing is reported as ended.
    """
    with transaction.atomic():
        row = SignedInSession.objects.select_related("user").filter(session_id=session_id).first()
        if row is None:
            return None
        ended, _ = Session.objects.filter(session_key=row.session_key).delete()
        row.delete()
    return row.user if ended else None


def revoke_all(user: User) -> int:
    """End every session of a user; returns how many still signed them in."""
    with transaction.atomic():
        keys = list(SignedInSession.objects.filter(user=user).values_list("session_key", flat=True))
        deleted, _ = Session.objects.filter(session_key__in=keys).delete()
        SignedInSession.objects.filter(user=user).delete()
    return deleted
