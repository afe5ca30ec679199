"""SecretBox: HKDF subkeys, AES-256-GCM sealed tokens, and constant-time comparison."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sekisho.crypto import (
    CryptoError,
    SecretBox,
    _hkdf,
    constant_time_equals,
    new_master_key,
)
from sekisho.errors import SekishoError
from tests.unit.fakes import ConstantRandom, FakeRandom

MASTER = bytes(range(64))
OTHER_MASTER = bytes(range(1, 65))
TOKEN_SHAPE = re.compile(r"^v1\.[0-9a-f]{8}\.[A-Za-z0-9_-]+$")


def box(master: bytes = MASTER) -> SecretBox:
    return SecretBox.from_master_key(master, random=FakeRandom())


def test_hkdf_matches_rfc5869_test_case_3() -> None:
    # RFC 5869 Appendix A.3: SHA-256, zero-length salt and info.
    okm = _hkdf(b"\x0b" * 22, b"", 42)
    assert okm.hex() == (
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
    )


def test_seal_then_open_round_trips() -> None:
    b = box()
    token = b.seal(b"JBSWY3DPEHPK3PXP", context="totp-secret:user-1")
    assert b.open(token, context="totp-secret:user-1") == b"JBSWY3DPEHPK3PXP"


@given(plaintext=st.binary(max_size=512), context=st.text(max_size=64))
def test_round_trip_property(plaintext: bytes, context: str) -> None:
    b = box()
    token = b.seal(plaintext, context=context)
    assert TOKEN_SHAPE.match(token)
    assert token.isascii()
    assert b.open(token, context=context) == plaintext


def test_token_is_versioned_and_records_the_key_id() -> None:
    b = box()
    token = b.seal(b"x", context="c")
    version, kid, body = token.split(".")
    assert version == "v1"
    assert kid == b.key_id
    assert len(kid) == 8
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert len(raw) == 12 + 1 + 16  # nonce + ciphertext + GCM tag


def test_key_id_is_stable_per_master_and_differs_between_masters() -> None:
    assert box().key_id == box().key_id
    assert box().key_id != box(OTHER_MASTER).key_id


def test_nonce_comes_from_the_injected_random_and_is_fresh_each_time() -> None:
    fixed = SecretBox.from_master_key(MASTER, random=ConstantRandom())
    assert fixed.seal(b"x", context="c") == fixed.seal(b"x", context="c")
    varied = box()
    assert varied.seal(b"x", context="c") != varied.seal(b"x", context="c")


def test_plaintext_is_not_visible_in_the_token() -> None:
    token = box().seal(b"SUPERSECRETSEED", context="c")
    assert "SUPERSECRETSEED" not in token
    body = token.split(".")[2]
    assert b"SUPERSECRETSEED" not in base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


def test_wrong_context_fails() -> None:
    b = box()
    token = b.seal(b"secret", context="totp-secret:alice")
    with pytest.raises(CryptoError) as info:
        b.open(token, context="totp-secret:mallory")
    assert info.value.code == "crypto_open_failed"


def test_wrong_key_fails_with_unknown_key() -> None:
    token = box().seal(b"secret", context="c")
    with pytest.raises(CryptoError) as info:
        box(OTHER_MASTER).open(token, context="c")
    assert info.value.code == "crypto_unknown_key"


def test_key_id_swapped_to_the_other_boxes_id_still_fails() -> None:
    token = box().seal(b"secret", context="c")
    other = box(OTHER_MASTER)
    forged = f"v1.{other.key_id}.{token.split('.')[2]}"
    with pytest.raises(CryptoError) as info:
        other.open(forged, context="c")
    assert info.value.code == "crypto_open_failed"


@given(position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_any_tampered_byte_is_detected(position: int, flip: int) -> None:
    b = box()
    token = b.seal(b"a sealed secret", context="c")
    body = token.split(".")[2]
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[position % len(raw)] ^= flip
    forged = f"v1.{b.key_id}." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(CryptoError):
        b.open(forged, context="c")


def test_truncated_token_is_refused() -> None:
    b = box()
    token = b.seal(b"secret", context="c")
    with pytest.raises(CryptoError) as info:
        b.open(token[:-4], context="c")
    assert info.value.code in ("crypto_open_failed", "crypto_malformed")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "v1",
        "v1..",
        "v2.00000000.AAAA",
        "v1.0000000.AAAA",
        "v1.ZZZZZZZZ.AAAA",
        "v1.00000000.AA AA",
        "v1.00000000.AAAA=",
        "v1.00000000.+/+/",
        "garbage",
    ],
)
def test_malformed_tokens_raise_crypto_error(token: str) -> None:
    with pytest.raises(CryptoError) as info:
        box().open(token, context="c")
    assert info.value.code in ("crypto_malformed", "crypto_unknown_key")


def test_body_too_short_is_malformed() -> None:
    b = box()
    with pytest.raises(CryptoError) as info:
        b.open(f"v1.{b.key_id}.AAAA", context="c")
    assert info.value.code == "crypto_malformed"


def test_body_with_impossible_base64_length_is_malformed() -> None:
    b = box()
    with pytest.raises(CryptoError) as info:
        b.open(f"v1.{b.key_id}." + "A" * 45, context="c")
    assert info.value.code == "crypto_malformed"


def test_huge_token_is_refused_without_work() -> None:
    with pytest.raises(CryptoError):
        box().open("v1.00000000." + "A" * (2 << 20), context="c")


def test_crypto_error_is_a_sekisho_error() -> None:
    assert issubclass(CryptoError, SekishoError)


@pytest.mark.parametrize("length", [0, 16, 31])
def test_short_master_key_is_refused(length: int) -> None:
    with pytest.raises(CryptoError) as info:
        SecretBox.from_master_key(b"\x01" * length)
    assert info.value.code == "crypto_bad_key"


def test_non_bytes_master_key_is_refused() -> None:
    with pytest.raises(CryptoError):
        SecretBox.from_master_key("0" * 64)  # type: ignore[arg-type]


def test_32_byte_master_key_is_enough() -> None:
    b = SecretBox.from_master_key(b"\x02" * 32)
    assert b.open(b.seal(b"ok", context="c"), context="c") == b"ok"


def test_repr_does_not_show_key_material() -> None:
    text = repr(box())
    assert MASTER.hex() not in text
    assert repr(MASTER) not in text
    assert "key_id" in text


def test_derive_is_deterministic_and_separates_purposes() -> None:
    b = box()
    assert b.derive("django-secret-key") == box().derive("django-secret-key")
    assert b.derive("django-secret-key") != b.derive("persistent-nameid")
    assert b.derive("django-secret-key") != box(OTHER_MASTER).derive("django-secret-key")
    assert len(b.derive("x")) == 32
    assert len(b.derive("x", length=64)) == 64


def test_derive_never_yields_the_sealing_key() -> None:
    # The sealing key lives in a different HKDF info namespace from every purpose.
    b = box()
    for purpose in ("", "internal/secretbox/aes-256-gcm/v1", "secretbox"):
        if purpose:
            assert b.derive(purpose) != b._seal_key


def test_derive_rejects_bad_arguments() -> None:
    b = box()
    with pytest.raises(ValueError):
        b.derive("")
    with pytest.raises(ValueError):
        b.derive("x", length=8)
    with pytest.raises(ValueError):
        b.derive("x", length=255 * 32 + 1)


def test_new_master_key_is_64_bytes_from_the_random() -> None:
    key = new_master_key(FakeRandom())
    assert len(key) == 64
    assert key == new_master_key(FakeRandom())
    assert SecretBox.from_master_key(key).key_id


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("abc", "abc", True),
        ("abc", "abd", False),
        ("abc", "abcd", False),
        (b"abc", "abc", True),
        ("関所", "関所".encode(), True),
        ("", "", True),
        ("", b"x", False),
    ],
)
def test_constant_time_equals(a: str | bytes, b: str | bytes, expected: bool) -> None:
    assert constant_time_equals(a, b) is expected
