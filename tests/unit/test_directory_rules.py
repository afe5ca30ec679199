"""Username, email, display name, group name and password rules."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sekisho.directory import errors, rules
from sekisho.errors import SekishoError

# --- usernames ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "alice",
        "a",
        "Alice.Smith",
        "alice@example.com",
        "first_last",
        "a+b=c,d-e",
        "agent-0042",
        "山田.太郎",
        "josé",
        "हिन्दी",  # Devanagari with combining vowel signs
        "x" * 128,
    ],
)
def test_valid_usernames(name: str) -> None:
    assert rules.validate_username(name) == unicodedata.normalize("NFC", name)


def test_username_is_nfc_normalised() -> None:
    decomposed = "jose\u0301"
    assert rules.validate_username(decomposed) == "jos\u00e9"


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "must not be empty"),
        ("x" * 129, "at most 128"),
        (" alice", "start or end with a space"),
        ("alice ", "start or end with a space"),
        ("al ice", "found ' ' (space)"),
        ("al/ice", "found '/'"),
        ("al:ice", "found ':'"),
        ("al'ice", "found"),
        ("alice\u0000", "U+0000"),
        ("ali\u202ece", "U+202E"),
        ("😀", "found"),
        ("\u0301a", "found"),  # a combining mark cannot start a name
    ],
)
def test_invalid_usernames_say_what_is_allowed(name: str, fragment: str) -> None:
    with pytest.raises(errors.InvalidUsername) as info:
        rules.validate_username(name)
    assert fragment in info.value.message
    assert info.value.code == "invalid_username"


def test_invalid_username_message_lists_the_allowed_characters() -> None:
    with pytest.raises(errors.InvalidUsername) as info:
        rules.validate_username("a b")
    assert "letters, digits and . _ @ + = , -" in info.value.message


def test_username_key_folds_case_and_form() -> None:
    assert rules.username_key("Alice") == rules.username_key("alice")
    assert rules.username_key("JOSE\u0301") == rules.username_key("jos\u00e9")
    assert rules.username_key("Straße") == rules.username_key("STRASSE")


@given(st.text(max_size=140))
def test_validate_username_returns_nfc_or_raises(name: str) -> None:
    try:
        result = rules.validate_username(name)
    except errors.InvalidUsername:
        return
    assert result == unicodedata.normalize("NFC", result)
    assert 1 <= len(result) <= 128
    assert result == result.strip()


# --- emails -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("alice@example.com", "alice@example.com"),
        ("Alice.Smith@Example.COM", "Alice.Smith@example.com"),
        ("  bob@example.org  ", "bob@example.org"),
        ("first+tag@sub.example.co.jp", "first+tag@sub.example.co.jp"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("山田@例え.jp", "山田@例え.jp"),
        ("x@xn--r8jz45g.jp", "x@xn--r8jz45g.jp"),
    ],
)
def test_valid_emails(address: str, expected: str) -> None:
    assert rules.validate_email(address) == expected


@pytest.mark.parametrize(
    "address",
    [
        "",
        "alice",
        "alice@",
        "@example.com",
        "a@b@example.com",
        "alice@localhost",
        "alice@example..com",
        "alice@-example.com",
        "alice@example.com.",
        "alice@192.168.0.1",
        ".alice@example.com",
        "alice.@example.com",
        "al..ice@example.com",
        "al ice@example.com",
        'al"ice@example.com',
        "alice@exa mple.com",
        "a" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
        "a\u3000b@example.com",
    ],
)
def test_invalid_emails(address: str) -> None:
    with pytest.raises(errors.InvalidEmail):
        rules.validate_email(address)


# --- display and group names --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Alice Smith", "Alice Smith"),
        ("  山田 太郎 ", "山田 太郎"),
        ("O'Brien, Seán (Ops)", "O'Brien, Seán (Ops)"),
        ("👩‍💻 Dev", "👩‍💻 Dev"),  # zero-width joiner stays allowed
        ("x" * 256, "x" * 256),
    ],
)
def test_valid_display_names(name: str, expected: str) -> None:
    assert rules.validate_display_name(name) == expected


@pytest.mark.parametrize(
    "name",
    ["", "   ", "x" * 257, "tab\there", "new\nline", "bell\x07", "rtl\u202eevil", "l\u2028s"],
)
def test_invalid_display_names(name: str) -> None:
    with pytest.raises(errors.InvalidDisplayName):
        rules.validate_display_name(name)


@pytest.mark.parametrize("name", ["Agents", "Tier 2 Support", "ops.tokyo", "営業部", "a" * 128])
def test_valid_group_names(name: str) -> None:
    assert rules.validate_group_name(name) == name


@pytest.mark.parametrize("name", ["", " Agents", "Agents ", "a/b", "a*", 'a"b', "a" * 129])
def test_invalid_group_names(name: str) -> None:
    with pytest.raises(errors.InvalidGroupName):
        rules.validate_group_name(name)


def test_directory_errors_share_the_root() -> None:
    for leaf in (
        errors.InvalidUsername,
        errors.InvalidEmail,
        errors.InvalidDisplayName,
        errors.InvalidGroupName,
        errors.WeakPassword,
        errors.UserNotFound,
        errors.UserExists,
        errors.GroupNotFound,
        errors.GroupExists,
        errors.AccountLocked,
        errors.SignInFailed,
        errors.UserDisabled,
    ):
        assert issubclass(leaf, errors.DirectoryError)
        assert issubclass(leaf, SekishoError)
        assert leaf.code != errors.DirectoryError.code
    assert errors.SignInFailed().message == "the username or password is not correct"
    assert errors.AccountLocked(retry_after_seconds=60).retry_after_seconds == 60


# --- passwords ----------------------------------------------------------------------------


def codes(password: str, *, username: str = "alice", email: str | None = None) -> list[str]:
    return [p.code for p in rules.password_problems(password, username=username, email=email)]


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "alllowercasebutlong",
        "ALLUPPERCASEISFINE",
        "kp7#Wq2!zR9m",
        "パスワードは長いほうがいい",
        "x" * 11 + "y",
        "Ünïcödé-Pässwörd",
    ],
)
def test_good_passwords_have_no_problems(password: str) -> None:
    assert codes(password, email="alice@example.com") == []


def test_too_short_reports_the_minimum_and_length() -> None:
    problems = rules.password_problems("short pw 11", username="bob", email=None)
    assert [p.code for p in problems] == ["password_too_short"]
    assert problems[0].params == {"min_length": 12, "length": 11}
    assert "12" in problems[0].message


def test_minimum_is_configurable_for_single_factor_use() -> None:
    problems = rules.password_problems(
        "twelve chars", username="bob", email=None, min_length=rules.PASSWORD_MIN_SINGLE_FACTOR
    )
    assert problems[0].code == "password_too_short"
    assert problems[0].params["min_length"] == 15


def test_too_long() -> None:
    assert codes("ab" * 129) == ["password_too_long"]
    assert codes("kp7#Wq2!zR9m" * 21) == []  # 252 characters is fine


def test_length_counts_characters_after_nfkc() -> None:
    # 12 full-width letters are 12 characters, not 36 bytes.
    assert codes("ｋｐｑｗｚｒｍｘｔｖｂｎ") == []
    assert codes("ｋｐｑｗｚｒｍｘｔｖｂ") == ["password_too_short"]


@pytest.mark.parametrize("password", ["alice-is-my-name", "ALICEALICE12345", "my name is Alice!"])
def test_password_containing_the_username(password: str) -> None:
    assert "password_contains_username" in codes(password, username="alice")


def test_password_equal_to_a_short_username_is_refused_but_containment_is_not() -> None:
    assert "password_contains_username" in codes("ab", username="ab")
    assert "password_contains_username" not in codes("a totally fine password", username="al")


def test_password_containing_the_email_local_part() -> None:
    assert "password_contains_email" in codes(
        "hello j.smith 2026", username="agent7", email="J.Smith@example.com"
    )
    assert "password_contains_email" not in codes(
        "example.com is nice", username="agent7", email="j.smith@example.com"
    )


@pytest.mark.parametrize(
    "password",
    [
        "password",
        "Password1234",
        "P@ssw0rd2024!",
        "qwertyuiop12",
        "iloveyou1234",
        "1234567890",
        "dragondragondragon",
        "!!!letmein!!!",
        "Sekisho2026!",
        "trustno1trustno1",
    ],
)
def test_common_passwords_and_variations(password: str) -> None:
    assert "password_too_common" in codes(password, username="someone")


@pytest.mark.parametrize(
    "password", ["aaaaaaaaaaaa", "abcdefghijklm", "123456789012", "987654321098", "zyxwvutsrqpo"]
)
def test_repetitive_or_sequential(password: str) -> None:
    found = codes(password, username="someone")
    assert "password_repetitive" in found or "password_too_common" in found


def test_no_composition_rules() -> None:
    # NIST SP 800-63B-4 §3.1.1.2: no "must contain a digit / symbol / capital".
    assert codes("just plain lowercase words here") == []


def test_problem_messages_are_english_and_codes_stable() -> None:
    problems = rules.password_problems("alice", username="alice", email="alice@example.com")
    assert {p.code for p in problems} == {
        "password_too_short",
        "password_contains_username",
        "password_contains_email",
    }
    assert all(p.message and p.message[0].isupper() for p in problems)


def test_normalize_password_is_nfkc() -> None:
    assert rules.normalize_password("Ｐａｓｓ") == "Pass"
    assert rules.normalize_password("e\u0301") == "\u00e9"


KNOWN_CODES = {
    "password_too_short",
    "password_too_long",
    "password_contains_username",
    "password_contains_email",
    "password_too_common",
    "password_repetitive",
}


@given(
    password=st.text(max_size=300),
    username=st.text(max_size=20),
    email=st.one_of(st.none(), st.emails()),
)
def test_password_problems_never_raises_and_uses_known_codes(
    password: str, username: str, email: str | None
) -> None:
    problems = rules.password_problems(password, username=username, email=email)
    assert {p.code for p in problems} <= KNOWN_CODES
    length = len(rules.normalize_password(password))
    assert ("password_too_short" in {p.code for p in problems}) == (length < rules.PASSWORD_MIN)
