"""DATABASE_URL's options: Sekisho's PostgreSQL defaults, overrides, and bad values refused."""

from __future__ import annotations

import pytest

from sekisho.config import PREPARE_THRESHOLD, load_config, parse_database_url
from sekisho.errors import ConfigError

URL = "postgresql://app:secret@db.example.com:5432/sekisho"


def test_postgresql_binds_on_the_server_and_prepares_repeated_statements() -> None:
    options = parse_database_url(URL + "?sslmode=verify-full").django_options()
    assert options == {
        "server_side_binding": True,
        "prepare_threshold": PREPARE_THRESHOLD,
        "sslmode": "verify-full",
    }


def test_a_pooler_can_turn_prepared_statements_and_server_binding_off() -> None:
    db = parse_database_url(URL + "?prepare_threshold=none&server_side_binding=false")
    options = db.django_options()
    assert options["prepare_threshold"] is None and options["server_side_binding"] is False
    assert (
        parse_database_url(URL + "?prepare_threshold=0").django_options()["prepare_threshold"] == 0
    )


def test_pg_dump_gets_only_libpq_options() -> None:
    db = parse_database_url(URL + "?prepare_threshold=none&sslmode=require&connect_timeout=5")
    assert db.libpq_options() == {"sslmode": "require", "connect_timeout": "5"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("prepare_threshold=-1", "prepare_threshold must be a count or none, got '-1'"),
        ("prepare_threshold=lots", "prepare_threshold must be a count or none"),
        ("prepare_threshold=１", "prepare_threshold must be a count or none"),
        ("server_side_binding=yes", "server_side_binding must be true or false, got 'yes'"),
    ],
)
def test_a_bad_option_is_refused_when_the_configuration_is_read(query: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"DATABASE_URL": f"{URL}?{query}"})
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_sqlite_has_no_driver_options(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert load_config({"SEKISHO_DATA": str(tmp_path)}).database.django_options() == {}
