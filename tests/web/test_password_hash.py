"""SEKISHO_PASSWORD_HASH: argon2id parameters checked against OWASP, stored hashes upgraded."""

from __future__ import annotations

import dataclasses

import pytest
from django.test import Client, override_settings

from sekisho.config import (
    DEFAULT_PASSWORD_HASH,
    Argon2Parameters,
    ConfigError,
    get_config,
    load_config,
)
from sekisho.directory import hashers
from sekisho.directory.models import User
from tests.conftest import PASSWORD, password_step


def test_the_default_stays_strong() -> None:
    assert load_config({}).password_hash == DEFAULT_PASSWORD_HASH
    assert DEFAULT_PASSWORD_HASH.describe() == "argon2id:m=65536,t=3,p=1"


@pytest.mark.parametrize(
    ("raw", "memory", "time"),
    [
        ("argon2id:m=19456,t=2,p=1", 19456, 2),  # OWASP's floor
        ("argon2id:m=7168,t=5,p=1", 7168, 5),  # Keycloak's sizing parameters
        ("argon2id:m=47104,t=1,p=1", 47104, 1),
        ("  argon2id:m=131072,t=4,p=2  ", 131072, 4),
    ],
)
def test_parameters_at_or_above_owasps_minimum_are_taken(raw: str, memory: int, time: int) -> None:
    params = load_config({"SEKISHO_PASSWORD_HASH": raw}).password_hash
    assert (params.memory_kib, params.time_cost) == (memory, time)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("argon2id:m=19455,t=2,p=1", "below OWASP's minimum"),
        ("argon2id:m=7000,t=5,p=1", "below OWASP's minimum"),
        ("argon2id:m=65536,t=3,p=0", "below OWASP's minimum"),
        ("argon2id:m=99999999,t=3,p=1", "beyond"),
        ("argon2i:m=65536,t=3,p=1", "must look like"),
        ("bcrypt", "must look like"),
        ("argon2id:m=65536,t=3", "must look like"),
    ],
)
def test_weak_or_malformed_parameters_stop_start_up_in_one_line(raw: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as info:
        load_config({"SEKISHO_PASSWORD_HASH": raw})
    assert "\n" not in str(info.value) and "SEKISHO_PASSWORD_HASH" in str(info.value)


@pytest.mark.django_db
def test_a_stored_hash_is_upgraded_at_the_next_sign_in(make_user, monkeypatch) -> None:
    floor = Argon2Parameters(memory_kib=19456, time_cost=2, parallelism=1)
    stronger = Argon2Parameters(memory_kib=24576, time_cost=2, parallelism=1)
    config = get_config()
    use = {"params": floor}
    monkeypatch.setattr(
        hashers, "get_config", lambda: dataclasses.replace(config, password_hash=use["params"])
    )
    with override_settings(
        PASSWORD_HASHERS=["sekisho.directory.hashers.SekishoArgon2PasswordHasher"]
    ):
        make_user()
        before = User.objects.get(username="alice").password
        assert "$m=19456,t=2,p=1$" in before
        # Nothing changed: a sign-in leaves the hash as it is.
        assert password_step(Client()) == "/signin/mfa/register"
        assert User.objects.get(username="alice").password == before
        use["params"] = stronger
        assert password_step(Client()) == "/signin/mfa/register"
        after = User.objects.get(username="alice").password
        assert "$m=24576,t=2,p=1$" in after and after != before
        # The upgraded hash still takes the same password, and only it.
        assert password_step(Client()) == "/signin/mfa/register"
        wrong = Client().post("/signin", {"username": "alice", "password": PASSWORD + "x"})
        assert wrong.status_code == 401
