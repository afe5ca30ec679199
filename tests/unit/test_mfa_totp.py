"""TOTP core: RFC 4226/6238 vectors, enrollment URI and QR, code normalisation, verification."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sekisho.errors import SekishoError
from sekisho.mfa import errors, totp
from sekisho.mfa.totp import _hotp
from tests.unit.fakes import FakeRandom

RFC_SEED_SHA1 = b"12345678901234567890"
RFC_SEED_SHA256 = b"12345678901234567890123456789012"
RFC_SEED_SHA512 = b"1234567890123456789012345678901234567890123456789012345678901234"
RFC_SECRET_B32 = base64.b32encode(RFC_SEED_SHA1).decode()  # GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ

NOW = datetime(2026, 11, 27, 9, 0, 10, tzinfo=UTC)  # 10 s into a step
STEP = int(NOW.timestamp()) // 30


def code_for(step: int, secret: str = RFC_SECRET_B32) -> str:
    return _hotp(base64.b32decode(secret), step)


# --- RFC vectors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counter", "expected"),
    list(
        enumerate(
            [
                "755224",
                "287082",
                "359152",
                "969429",
                "338314",
                "254676",
                "287922",
                "162583",
                "399871",
                "520489",
            ]
        )
    ),
)
def test_rfc4226_appendix_d_hotp_vectors(counter: int, expected: str) -> None:
    assert _hotp(RFC_SEED_SHA1, counter) == expected


RFC6238_VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize(("unix_time", "sha1", "sha256", "sha512"), RFC6238_VECTORS)
def test_rfc6238_appendix_b_vectors(unix_time: int, sha1: str, sha256: str, sha512: str) -> None:
    step = unix_time // 30
    assert _hotp(RFC_SEED_SHA1, step, digits=8) == sha1
    assert _hotp(RFC_SEED_SHA256, step, digits=8, digest="sha256") == sha256
    assert _hotp(RFC_SEED_SHA512, step, digits=8, digest="sha512") == sha512


@pytest.mark.parametrize(("unix_time", "sha1", "sha256", "sha512"), RFC6238_VECTORS)
def test_rfc6238_sha1_vectors_agree_with_pyotp(
    unix_time: int, sha1: str, sha256: str, sha512: str
) -> None:
    assert pyotp.TOTP(RFC_SECRET_B32, digits=8).at(unix_time) == sha1


@pytest.mark.parametrize(("unix_time", "sha1", "sha256", "sha512"), RFC6238_VECTORS[:5])
def test_time_step_and_six_digit_code_match_the_vector_tail(
    unix_time: int, sha1: str, sha256: str, sha512: str
) -> None:
    # A 6-digit code is the same truncated value mod 10**6: the vector's last six digits.
    now = datetime.fromtimestamp(unix_time, tz=UTC)
    assert totp.time_step(now) == unix_time // 30
    assert totp.code_at(secret=RFC_SECRET_B32, now=now) == sha1[-6:]


@given(
    key=st.binary(min_size=16, max_size=40),
    unix_time=st.integers(min_value=0, max_value=2**34),
)
def test_six_digit_codes_agree_with_pyotp(key: bytes, unix_time: int) -> None:
    secret = base64.b32encode(key).decode().rstrip("=")
    now = datetime.fromtimestamp(unix_time, tz=UTC)
    assert totp.code_at(secret=secret, now=now) == pyotp.TOTP(secret).at(unix_time)


def test_time_step_requires_an_aware_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        totp.time_step(datetime(2026, 1, 1, 9, 0))


def test_time_step_uses_utc_whatever_the_offset() -> None:
    tokyo = NOW.astimezone(timezone(timedelta(hours=9)))
    assert totp.time_step(tokyo) == totp.time_step(NOW) == STEP


# --- secrets and enrollment ---------------------------------------------------------------


def test_new_secret_is_160_bit_unpadded_base32() -> None:
    secret = totp.new_secret(FakeRandom())
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert len(base64.b32decode(secret)) == 20


def test_new_secret_comes_from_the_injected_random() -> None:
    assert totp.new_secret(FakeRandom(seed=1)) == totp.new_secret(FakeRandom(seed=1))
    assert totp.new_secret(FakeRandom(seed=1)) != totp.new_secret(FakeRandom(seed=2))


def test_provisioning_uri_exact_shape() -> None:
    uri = totp.provisioning_uri(
        secret="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
        account_name="alice@example.com",
        issuer="Sekisho",
    )
    assert uri == (
        "otpauth://totp/Sekisho:alice@example.com"
        "?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Sekisho"
    )


def test_provisioning_uri_encodes_spaces_and_unicode() -> None:
    uri = totp.provisioning_uri(
        secret="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", account_name="山田 太郎", issuer="ACME Corp"
    )
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth"
    assert parts.netloc == "totp"
    assert " " not in uri and "+" not in uri
    assert unquote(parts.path) == "/ACME Corp:山田 太郎"
    query = parse_qs(parts.query)
    assert query == {"secret": ["JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"], "issuer": ["ACME Corp"]}


def test_provisioning_uri_is_understood_by_pyotp() -> None:
    secret = totp.new_secret(FakeRandom())
    uri = totp.provisioning_uri(secret=secret, account_name="bob", issuer="Sekisho Test")
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.secret == secret
    assert parsed.issuer == "Sekisho Test"
    assert parsed.name == "bob"
    assert parsed.digits == 6
    assert parsed.interval == 30
    assert parsed.at(NOW) == totp.code_at(secret=secret, now=NOW)


@pytest.mark.parametrize(
    ("account", "issuer"), [("a:b", "Sekisho"), ("alice", "Se:kisho"), ("", "S"), ("a", "")]
)
def test_provisioning_uri_refuses_colons_and_empty_parts(account: str, issuer: str) -> None:
    with pytest.raises(ValueError):
        totp.provisioning_uri(secret=RFC_SECRET_B32, account_name=account, issuer=issuer)


def test_provisioning_uri_refuses_a_bad_secret() -> None:
    with pytest.raises(errors.MfaError):
        totp.provisioning_uri(secret="not base32!", account_name="a", issuer="S")


def test_qr_svg_is_inline_titled_and_about_200px() -> None:
    uri = totp.provisioning_uri(
        secret=totp.new_secret(FakeRandom()), account_name="alice@example.com", issuer="Sekisho"
    )
    svg = totp.qr_svg(uri)
    assert svg.startswith('<svg role="img" aria-label="')
    assert "<?xml" not in svg
    assert f"<title>{totp.DEFAULT_QR_TITLE}</title>" in svg
    width = int(re.search(r'width="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    height = int(re.search(r'height="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    assert width == height
    assert 160 <= width <= 260
    assert "#000" in svg and "#fff" in svg
    assert svg.rstrip().endswith("</svg>")


def test_qr_svg_escapes_the_title() -> None:
    svg = totp.qr_svg("otpauth://totp/S:a?secret=AAAA&issuer=S", title='QR <"x">')
    assert '<"x">' not in svg
    assert 'aria-label="QR &lt;&quot;x&quot;&gt;"' in svg


def test_qr_svg_does_not_leak_the_secret_as_text() -> None:
    secret = totp.new_secret(FakeRandom())
    svg = totp.qr_svg(totp.provisioning_uri(secret=secret, account_name="a", issuer="S"))
    assert secret not in svg


# --- normalize_code -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("123456", "123456"),
        ("123 456", "123456"),
        (" 123456 ", "123456"),
        ("123-456", "123456"),
        ("１２３４５６", "123456"),
        ("１２３　４５６", "123456"),
        ("１２３－４５６", "123456"),
        ("１２３ー４５６", "123456"),
        ("12 34 56\n", "123456"),
        ("000000", "000000"),
    ],
)
def test_normalize_code_accepts_what_people_type(raw: str, expected: str) -> None:
    assert totp.normalize_code(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "12345",
        "1234567",
        "12345a",
        "abcdef",
        "١٢٣٤٥٦",  # Arabic-Indic digits are digits to str.isdigit, but not codes
        "¹²³⁴⁵⁶",
        "123.456",
        "12345６７",
        "1" * 100,
    ],
)
def test_normalize_code_refuses_anything_else(raw: str) -> None:
    with pytest.raises(errors.MalformedCode):
        totp.normalize_code(raw)


@given(
    digits=st.text(alphabet="0123456789", min_size=6, max_size=6),
    data=st.data(),
)
def test_normalize_code_recovers_digits_through_fullwidth_and_separators(
    digits: str, data: st.DataObject
) -> None:
    typed = ""
    for ch in digits:
        if data.draw(st.booleans()):
            ch = chr(ord("０") + int(ch))
        typed += data.draw(st.sampled_from(["", " ", "-", "　", "－"])) + ch
    assert totp.normalize_code(typed) == digits


@given(raw=st.text(max_size=20))
def test_normalize_code_returns_six_ascii_digits_or_raises(raw: str) -> None:
    try:
        code = totp.normalize_code(raw)
    except errors.MalformedCode:
        return
    assert re.fullmatch(r"[0-9]{6}", code)


# --- verify -------------------------------------------------------------------------------


def test_verify_accepts_the_current_code_and_returns_its_step() -> None:
    code = code_for(STEP)
    assert code == pyotp.TOTP(RFC_SECRET_B32).at(NOW)
    assert totp.verify(secret=RFC_SECRET_B32, code=code, now=NOW, last_used_step=None) == STEP


@pytest.mark.parametrize("offset", [-1, 1])
def test_verify_accepts_one_step_either_side(offset: int) -> None:
    step = totp.verify(
        secret=RFC_SECRET_B32, code=code_for(STEP + offset), now=NOW, last_used_step=None
    )
    assert step == STEP + offset


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_verify_refuses_codes_outside_the_window(offset: int) -> None:
    code = code_for(STEP + offset)
    if code in {code_for(STEP + d) for d in (-1, 0, 1)}:
        pytest.skip("code collides with one inside the window")
    with pytest.raises(errors.InvalidCode):
        totp.verify(secret=RFC_SECRET_B32, code=code, now=NOW, last_used_step=None)


def test_window_zero_accepts_only_the_current_step() -> None:
    assert (
        totp.verify(
            secret=RFC_SECRET_B32, code=code_for(STEP), now=NOW, last_used_step=None, window=0
        )
        == STEP
    )
    with pytest.raises(errors.InvalidCode):
        totp.verify(
            secret=RFC_SECRET_B32, code=code_for(STEP - 1), now=NOW, last_used_step=None, window=0
        )


def test_verify_accepts_spaced_and_fullwidth_input() -> None:
    code = code_for(STEP)
    spaced = f"{code[:3]} {code[3:]}"
    fullwidth = "".join(chr(ord("０") + int(c)) for c in code)
    for typed in (spaced, fullwidth):
        assert totp.verify(secret=RFC_SECRET_B32, code=typed, now=NOW, last_used_step=None) == STEP


def test_a_code_is_accepted_only_once() -> None:
    code = code_for(STEP)
    step = totp.verify(secret=RFC_SECRET_B32, code=code, now=NOW, last_used_step=None)
    with pytest.raises(errors.ReusedCode):
        totp.verify(secret=RFC_SECRET_B32, code=code, now=NOW, last_used_step=step)
    # Still refused later in the same window.
    with pytest.raises(errors.ReusedCode):
        totp.verify(
            secret=RFC_SECRET_B32, code=code, now=NOW + timedelta(seconds=25), last_used_step=step
        )


def test_an_older_step_is_refused_after_a_newer_one_was_used() -> None:
    # RFC 6238 §5.2: once step T is accepted, T-1's code must not work any more.
    with pytest.raises(errors.ReusedCode):
        totp.verify(secret=RFC_SECRET_B32, code=code_for(STEP - 1), now=NOW, last_used_step=STEP)


def test_the_next_step_is_accepted_after_the_current_one() -> None:
    step = totp.verify(secret=RFC_SECRET_B32, code=code_for(STEP + 1), now=NOW, last_used_step=STEP)
    assert step == STEP + 1


def test_a_future_step_burns_the_steps_before_it() -> None:
    # Accepting T+1 (a fast phone clock) means T's code is refused afterwards.
    used = totp.verify(secret=RFC_SECRET_B32, code=code_for(STEP + 1), now=NOW, last_used_step=None)
    with pytest.raises(errors.ReusedCode):
        totp.verify(secret=RFC_SECRET_B32, code=code_for(STEP), now=NOW, last_used_step=used)


def test_wrong_code_is_invalid_with_a_generic_message() -> None:
    wrong = f"{(int(code_for(STEP)) + 1) % 10**6:06d}"
    if wrong in {code_for(STEP + d) for d in (-1, 0, 1)}:
        pytest.skip("collision")
    with pytest.raises(errors.InvalidCode) as info:
        totp.verify(secret=RFC_SECRET_B32, code=wrong, now=NOW, last_used_step=None)
    assert info.value.code == "mfa_invalid_code"
    assert info.value.message == "the code is not valid"


def test_malformed_code_is_reported_before_any_check() -> None:
    with pytest.raises(errors.MalformedCode):
        totp.verify(secret=RFC_SECRET_B32, code="12345", now=NOW, last_used_step=None)


def test_verify_at_step_boundaries() -> None:
    start = datetime.fromtimestamp(STEP * 30, tz=UTC)
    last = start + timedelta(seconds=29, microseconds=999_999)
    assert totp.time_step(start) == totp.time_step(last) == STEP
    assert totp.time_step(start + timedelta(seconds=30)) == STEP + 1


def test_verify_refuses_naive_now_and_bad_window() -> None:
    with pytest.raises(ValueError):
        totp.verify(
            secret=RFC_SECRET_B32,
            code=code_for(STEP),
            now=datetime(2026, 11, 27, 9, 0),
            last_used_step=None,
        )
    for window in (-1, totp.MAX_WINDOW + 1):
        with pytest.raises(ValueError):
            totp.verify(
                secret=RFC_SECRET_B32,
                code=code_for(STEP),
                now=NOW,
                last_used_step=None,
                window=window,
            )


def test_verify_refuses_a_too_short_or_corrupt_secret() -> None:
    with pytest.raises(errors.MfaError) as info:
        totp.verify(secret="JBSWY3DP", code="123456", now=NOW, last_used_step=None)
    assert info.value.code == "mfa_bad_secret"
    with pytest.raises(errors.MfaError):
        totp.verify(secret="1!1!1!1!", code="123456", now=NOW, last_used_step=None)


@given(
    key=st.binary(min_size=20, max_size=20),
    unix_time=st.integers(min_value=60, max_value=2**33),
    last_used=st.one_of(st.none(), st.integers(min_value=0, max_value=2**33 // 30)),
)
def test_verify_never_returns_a_step_at_or_below_the_last_used(
    key: bytes, unix_time: int, last_used: int | None
) -> None:
    secret = base64.b32encode(key).decode().rstrip("=")
    now = datetime.fromtimestamp(unix_time, tz=UTC)
    code = pyotp.TOTP(secret).at(unix_time)
    try:
        step = totp.verify(secret=secret, code=code, now=now, last_used_step=last_used)
    except errors.ReusedCode:
        assert last_used is not None and last_used >= totp.time_step(now) - 1
        return
    assert last_used is None or step > last_used
    assert abs(step - totp.time_step(now)) <= 1


# --- limits -------------------------------------------------------------------------------


def test_check_can_add_allows_up_to_two_devices() -> None:
    assert totp.MAX_DEVICES_PER_USER == 2
    totp.check_can_add(0)
    totp.check_can_add(1)
    with pytest.raises(errors.TooManyDevices):
        totp.check_can_add(2)
    with pytest.raises(errors.TooManyDevices):
        totp.check_can_add(5)


def test_enrollment_expires_after_ten_minutes() -> None:
    totp.check_enrollment_fresh(started_at=NOW, now=NOW + timedelta(minutes=10))
    with pytest.raises(errors.EnrollmentExpired):
        totp.check_enrollment_fresh(started_at=NOW, now=NOW + timedelta(minutes=10, seconds=1))


def test_error_hierarchy_and_codes() -> None:
    leaves = [
        errors.InvalidCode,
        errors.ReusedCode,
        errors.MalformedCode,
        errors.TooManyDevices,
        errors.EnrollmentExpired,
        errors.MfaLocked,
    ]
    codes = set()
    for leaf in leaves:
        assert issubclass(leaf, errors.MfaError)
        assert issubclass(leaf, SekishoError)
        instance = leaf()
        assert instance.message
        codes.add(instance.code)
    assert len(codes) == len(leaves)
    assert errors.InvalidCode("custom").message == "custom"
