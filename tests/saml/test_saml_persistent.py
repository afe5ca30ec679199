"""Persistent and transient NameIDs."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sekisho.saml.core.persistent import persistent_name_id, transient_name_id
from tests.saml import factory

KEY = b"k" * 32


def test_stable_per_sp_and_opaque() -> None:
    a1 = persistent_name_id(key=KEY, sp_entity_id="urn:sp:a", user_uid="uid-1")
    assert a1 == persistent_name_id(key=KEY, sp_entity_id="urn:sp:a", user_uid="uid-1")
    assert a1 != persistent_name_id(key=KEY, sp_entity_id="urn:sp:b", user_uid="uid-1")
    assert a1 != persistent_name_id(key=KEY, sp_entity_id="urn:sp:a", user_uid="uid-2")
    assert a1 != persistent_name_id(key=b"j" * 32, sp_entity_id="urn:sp:a", user_uid="uid-1")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", a1)
    assert "uid" not in a1


def test_no_ambiguous_concatenation() -> None:
    assert persistent_name_id(key=KEY, sp_entity_id="ab", user_uid="c") != persistent_name_id(
        key=KEY, sp_entity_id="a", user_uid="bc"
    )


def test_refuses_weak_key_and_empty_uid() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        persistent_name_id(key=b"short", sp_entity_id="x", user_uid="u")
    with pytest.raises(ValueError, match="non-empty user uid"):
        persistent_name_id(key=KEY, sp_entity_id="x", user_uid="")


@given(st.text(min_size=1), st.text())
def test_length_is_fixed(uid: str, sp: str) -> None:
    value = persistent_name_id(key=KEY, sp_entity_id=sp, user_uid=uid)
    assert len(value) == 43  # well under the 256 characters of saml-core §8.3.7


def test_transient() -> None:
    source = factory.id_source("_t")
    assert transient_name_id(source) == "_t0001"
    assert transient_name_id(source) == "_t0002"


def test_session_bound_ids_are_stable_per_session_and_sp_and_unlinkable() -> None:
    from sekisho.saml.core.persistent import session_bound_id

    key = b"k" * 32

    def make(purpose: str = "session-index", session: str = "s1", sp: str = "https://a") -> str:
        return session_bound_id(key=key, purpose=purpose, session_id=session, sp_entity_id=sp)

    first = make()
    assert first == make() and first.startswith("_") and len(first) == 41
    assert len({first, make(session="s2"), make(sp="https://b"), make(purpose="transient")}) == 4
    assert (
        session_bound_id(
            key=b"x" * 32, purpose="session-index", session_id="s1", sp_entity_id="https://a"
        )
        != first
    )
    with pytest.raises(ValueError):
        session_bound_id(key=b"short", purpose="p", session_id="s", sp_entity_id="sp")
    with pytest.raises(ValueError):
        session_bound_id(key=key, purpose="p", session_id="", sp_entity_id="sp")
