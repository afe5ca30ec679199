"""The session store (sekisho.web.sessions): a cycled key is written once, never merged."""

from __future__ import annotations

import pytest
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sekisho.web.sessions import SessionStore

pytestmark = pytest.mark.django_db


def test_a_cycled_key_keeps_the_data_and_is_inserted_once() -> None:
    old = SessionStore()
    old["lang"] = "ja"
    old.create()
    old_key = old.session_key
    store = SessionStore(old_key)
    assert store["lang"] == "ja"
    with CaptureQueriesContext(connection) as cycled:
        store.cycle_key()
    assert [q["sql"].split()[0] for q in cycled.captured_queries] == ["DELETE"]
    assert store.session_key not in (None, old_key)
    assert not Session.objects.filter(session_key=old_key).exists()
    assert not Session.objects.filter(session_key=store.session_key).exists()  # not yet
    store["_auth_user_id"] = "1"
    with CaptureQueriesContext(connection) as saved:
        store.save()
    assert any(q["sql"].startswith("INSERT") for q in saved.captured_queries)
    assert not any(q["sql"].startswith("UPDATE") for q in saved.captured_queries)
    again = SessionStore(store.session_key)
    assert again["lang"] == "ja" and again["_auth_user_id"] == "1"
    store["more"] = True
    store.save()  # an ordinary update from now on
    assert SessionStore(store.session_key)["more"] is True


def test_a_cycled_key_that_collides_fails_rather_than_share_a_session() -> None:
    other = SessionStore()
    other["_auth_user_id"] = "2"
    other.create()
    store = SessionStore()
    store["lang"] = "en"
    store.cycle_key()
    store._session_key = other.session_key  # the collision 165 random bits never bring
    with pytest.raises(UpdateError):
        store.save()
    assert SessionStore(other.session_key)["_auth_user_id"] == "2"
    assert "lang" not in SessionStore(other.session_key)


def test_a_session_flushed_after_a_cycle_is_created_afresh() -> None:
    store = SessionStore()
    store["lang"] = "en"
    store.cycle_key()
    store.flush()  # sign-out in the same request
    store["lang"] = "ja"
    store.save()
    store["more"] = True
    store.save()
    assert SessionStore(store.session_key)["more"] is True


def test_deleting_a_session_that_is_gone_is_quiet() -> None:
    store = SessionStore()
    store.delete("nosuchkey")
    store.delete()


def test_a_new_session_key_is_not_looked_up_and_a_collision_draws_again(monkeypatch) -> None:
    taken = SessionStore()
    taken["owner"] = "someone else"
    taken.create()
    keys = iter([taken.session_key, "b" * 32])
    monkeypatch.setattr("sekisho.web.sessions.get_random_string", lambda *a: next(keys))
    store = SessionStore()
    store["lang"] = "ja"
    with CaptureQueriesContext(connection) as created:
        store.create()
    statements = [q["sql"].split()[0] for q in created.captured_queries]
    assert "SELECT" not in statements  # no "is this key free?" query
    assert store.session_key == "b" * 32
    assert SessionStore(taken.session_key)["owner"] == "someone else"  # untouched
    assert SessionStore("b" * 32)["lang"] == "ja"
