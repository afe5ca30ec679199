"""sekisho.rows: a row read in plain SQL is the model the ORM would have read."""

from __future__ import annotations

import pytest
from django.db import models

from sekisho import rows
from sekisho.directory.models import User
from sekisho.saml.models import Application

pytestmark = pytest.mark.django_db


def _values(instance: models.Model) -> dict[str, object]:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_a_user_reads_as_the_orm_reads_it(make_user) -> None:  # type: ignore[no-untyped-def]
    user = make_user("alice")
    read = rows.first(User, "id = %s", [user.pk])
    assert read is not None and _values(read) == _values(User.objects.get(pk=user.pk))
    assert read._state.adding is False and read._state.db == "default"
    read.email = "alice@example.org"
    read.save(update_fields=["email"])  # an update of the row, not a second row
    assert User.objects.get(pk=user.pk).email == "alice@example.org"


def test_an_application_with_json_and_dates_reads_as_the_orm_reads_it(connect_app) -> None:  # type: ignore[no-untyped-def]
    read = rows.first(Application, "name = %s", ["connect"])
    stored = Application.objects.get(name="connect")
    assert read is not None and _values(read) == _values(stored)
    assert isinstance(read.acs_endpoints, list) and read.acs_endpoints == stored.acs_endpoints


def test_no_row_is_none(db) -> None:  # type: ignore[no-untyped-def]
    assert rows.first(Application, "name = %s", ["nothing"]) is None
    assert rows.first(User, "id = %s", [987654]) is None


def test_up_to_reads_at_most_the_limit_as_the_orm_reads_them(connect_app) -> None:  # type: ignore[no-untyped-def]
    assert rows.up_to(2, Application, "entity_id = %s", ["urn:nobody"]) == []
    one = rows.up_to(2, Application, "entity_id = %s", [connect_app.entity_id])
    assert [_values(a) for a in one] == [_values(Application.objects.get(name="connect"))]
    for n in (1, 2):  # the same SP registered twice more: three rows, at most the limit
        Application.objects.create(
            name=f"connect-{n}", display_name="Connect", entity_id=connect_app.entity_id
        )
    assert len(rows.up_to(2, Application, "entity_id = %s", [connect_app.entity_id])) == 2
    assert len(rows.up_to(1, Application, "entity_id = %s", [connect_app.entity_id])) == 1
