"""Rules for usernames, emails, display and group names, and passwords (NIST SP 800-63B-4).

Validators return the normalised value or raise the matching DirectoryError leaf.
``password_problems`` returns coded problems instead of raising, so a form can show
all of them at once and the web layer can translate each by its code.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from sekisho.directory.errors import (
    DirectoryError,
    InvalidDisplayName,
    InvalidEmail,
    InvalidGroupName,
    InvalidTimeZone,
    InvalidUsername,
)

USERNAME_MAX = 128
DISPLAY_NAME_MAX = 256
GROUP_NAME_MAX = 128
EMAIL_MAX = 254  # RFC 5321 §4.5.3.1.3: a 256-octet path minus the angle brackets
EMAIL_LOCAL_MAX = 64  # RFC 5321 §4.5.3.1.1

# NIST SP 800-63B-4 §3.1.1.2 asks for at least 15 characters when the password is the
# only factor and allows 8 when it is one of several. Sekisho asks for second factors by
# default (MfaMode.ALWAYS), so 12 is our default: well above the MFA floor, short enough
# for agents who type it every shift. Pass PASSWORD_MIN_SINGLE_FACTOR when MFA is off.
PASSWORD_MIN = 12
PASSWORD_MIN_SINGLE_FACTOR = 15
# §3.1.1.2 asks to permit at least 64; a cap still bounds hashing work per request.
PASSWORD_MAX = 256
# A username or email local part shorter than this is too common a substring to ban
# inside passwords ("al" would forbid "totally"); equality is still refused.
_CONTEXT_MIN_CONTAINED = 3

USERNAME_SYMBOLS = "._@+=,-"
GROUP_NAME_SYMBOLS = "._@+=,- "

# Bidirectional overrides and isolates can make a name display as something else
# (CVE-2021-42574 "Trojan Source" for names): refused in every human-facing name.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

_EMAIL_LOCAL_ASCII = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

# A short blocklist (§3.1.1.2: compare against commonly used, expected or compromised
# values): the most common passwords in public breach corpora, lower-case, plus the
# service's own name (a context-specific word). Variations
# (capitals, digits or symbols around, repetition) are caught by _blocklist_candidates.
COMMON_PASSWORDS: frozenset[str] = frozenset(
    # A word list reads and diffs best as text.
    """
    123456 password 123456789 12345678 12345 qwerty 1234567 111111 1234567890 123123
    abc123 1234 password1 iloveyou 1q2w3e4r 000000 qwerty123 zaq12wsx dragon sunshine
    princess letmein 654321 monkey 27653 1qaz2wsx 123321 qwertyuiop superman asdfghjkl
    trustno1 football baseball welcome login admin master hello freedom whatever
    qazwsx shadow michael jennifer 666666 121212 696969 mustang access batman passw0rd
    starwars 555555 lovely 7777777 888888 123qwe 1q2w3e 1qaz2wsx3edc qwe123 asdf1234
    charlie donald aa123456 zxcvbnm 987654321 159753 computer internet samsung
    secret summer winter spring autumn hunter ranger killer soccer hockey pokemon
    liverpool chelsea arsenal cheese flower orange purple yellow cookie chocolate
    changeme default letmein1 welcome1 password123 admin123 root toor test test123
    guest abcdef abcd1234 a1b2c3d4 123abc 1111111111 0987654321 qwertyui asdfgh
    zxcvbn pass1234 iloveyou1
    sekisho
    """.split()  # noqa: SIM905
)


@dataclass(frozen=True)
class PasswordProblem:
    """One reason a password is refused: a stable code, its parameters, an English message."""

    code: str
    message: str
    params: Mapping[str, int | str] = field(default_factory=dict)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _is_letter_or_digit(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category[0] == "L" or category == "Nd"


def _is_mark(ch: str) -> bool:
    # Combining marks that NFC cannot precompose (Devanagari vowel signs, Thai tone marks).
    return unicodedata.category(ch)[0] == "M"


def validate_username(value: str) -> str:
    """Return the NFC form of a valid username, or raise InvalidUsername.

    1-128 characters: letters, digits, marks after a letter, and ``. _ @ + = , -``; AWS's
    IAM Identity Center user names allow the same symbols. Surrounding spaces are refused
    rather than stripped, so what was typed is what is stored.
    """
    allowed = "letters, digits and . _ @ + = , -"
    name = _nfc(value)
    if not name:
        raise InvalidUsername(f"a username must not be empty; use 1-{USERNAME_MAX} {allowed}")
    if len(name) > USERNAME_MAX:
        raise InvalidUsername(
            f"a username must be at most {USERNAME_MAX} characters, got {len(name)}"
        )
    if name != name.strip():
        raise InvalidUsername("a username must not start or end with a space")
    for index, ch in enumerate(name):
        if _is_letter_or_digit(ch) or ch in USERNAME_SYMBOLS:
            continue
        if _is_mark(ch) and index > 0:
            continue
        raise InvalidUsername(f"a username may contain only {allowed}; found {_describe(ch)}")
    return name


def username_key(value: str) -> str:
    """Case- and form-insensitive key for uniqueness checks ("Alice" and "alice" collide)."""
    return _nfc(value).casefold()


def validate_email(value: str) -> str:
    """Return a plausible mailbox address with a lower-cased domain, or raise InvalidEmail.

    Deliberately permissive on the local part (RFC 5322 atext and RFC 6531 UTF-8), strict
    on structure: one ``@``, no spaces, a dotted domain of valid DNS labels (IDN allowed).
    Surrounding whitespace is stripped; only a confirmation mail proves the address.
    """
    address = _nfc(value.strip())
    if not address:
        raise InvalidEmail("an email address must not be empty")
    if len(address) > EMAIL_MAX:
        raise InvalidEmail(f"an email address must be at most {EMAIL_MAX} characters")
    if address.count("@") != 1:
        raise InvalidEmail(f"an email address must contain exactly one @, got {address!r}")
    local, domain = address.split("@")
    if not local or len(local) > EMAIL_LOCAL_MAX:
        raise InvalidEmail(
            f"the part before @ must be 1-{EMAIL_LOCAL_MAX} characters, got {len(local)}"
        )
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidEmail("the part before @ must not start or end with a dot or repeat dots")
    for ch in local:
        if ch.isascii():
            if not _EMAIL_LOCAL_ASCII.match(ch):
                raise InvalidEmail(f"the part before @ must not contain {_describe(ch)}")
        elif unicodedata.category(ch)[0] in ("C", "Z"):
            raise InvalidEmail(f"the part before @ must not contain {_describe(ch)}")
    return f"{local}@{_validate_domain(domain)}"


def _validate_domain(domain: str) -> str:
    lowered = domain.lower()
    if not lowered or "." not in lowered:
        raise InvalidEmail(f"the domain must be a dotted name such as example.com, got {domain!r}")
    try:
        ascii_domain = lowered.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidEmail(f"the domain {domain!r} is not a valid host name") from None
    labels = ascii_domain.split(".")
    if any(not _DNS_LABEL.match(label) for label in labels):
        raise InvalidEmail(f"the domain {domain!r} is not a valid host name")
    if labels[-1].isdigit():
        raise InvalidEmail(f"the domain {domain!r} looks like an IP address, not a host name")
    return lowered


def _human_name(value: str, *, what: str, limit: int, error: type[DirectoryError]) -> str:
    name = _nfc(value.strip())
    if not name:
        raise error(f"a {what} must not be empty")
    if len(name) > limit:
        raise error(f"a {what} must be at most {limit} characters, got {len(name)}")
    for ch in name:
        category = unicodedata.category(ch)
        if category == "Cc" or category in ("Zl", "Zp") or ch in _BIDI_CONTROLS:
            raise error(f"a {what} must not contain control characters; found {_describe(ch)}")
    return name


def validate_display_name(value: str) -> str:
    """Return a valid display name (1-256 characters, no control characters), or raise.

    Surrounding whitespace is stripped. Raises InvalidDisplayName.
    """
    return _human_name(value, what="display name", limit=DISPLAY_NAME_MAX, error=InvalidDisplayName)


GROUP_DESCRIPTION_MAX = 512


def validate_group_description(value: str) -> str:
    """Return a group description (empty allowed, at most 512 characters, no control characters)."""
    if not value.strip():
        return ""
    return _human_name(
        value, what="group description", limit=GROUP_DESCRIPTION_MAX, error=InvalidGroupName
    )


def validate_group_name(value: str) -> str:
    """Return a valid group name, or raise InvalidGroupName.

    1-128 characters: letters, digits, spaces and ``. _ @ + = , -``, no leading or
    trailing space. Group names travel in SAML attributes and policy conditions, where
    quotes, slashes and wildcards would need escaping.
    """
    allowed = "letters, digits, spaces and . _ @ + = , -"
    name = _nfc(value)
    if not name:
        raise InvalidGroupName(f"a group name must not be empty; use 1-{GROUP_NAME_MAX} {allowed}")
    if len(name) > GROUP_NAME_MAX:
        raise InvalidGroupName(
            f"a group name must be at most {GROUP_NAME_MAX} characters, got {len(name)}"
        )
    if name != name.strip():
        raise InvalidGroupName("a group name must not start or end with a space")
    for index, ch in enumerate(name):
        if _is_letter_or_digit(ch) or ch in GROUP_NAME_SYMBOLS:
            continue
        if _is_mark(ch) and index > 0:
            continue
        raise InvalidGroupName(f"a group name may contain only {allowed}; found {_describe(ch)}")
    return name


@lru_cache(maxsize=1)
def time_zones() -> tuple[str, ...]:
    """Every IANA time zone name this system knows, sorted (for pickers and validation)."""
    import zoneinfo

    # "localtime" and the posix/right trees are files, not zones people choose.
    return tuple(
        sorted(
            zone
            for zone in zoneinfo.available_timezones()
            if zone != "localtime" and not zone.startswith(("posix/", "right/"))
        )
    )


def validate_time_zone(value: str, *, allow_empty: bool = False) -> str:
    """Return an IANA time zone name ("Asia/Tokyo") exactly as known, or raise InvalidTimeZone.

    ``allow_empty``: an empty value means "not set" (a user then sees the IdP's zone).
    """
    zone = value.strip()
    if not zone and allow_empty:
        return ""
    if zone not in time_zones():
        shown = zone[:64] if zone.isprintable() else repr(zone[:64])
        raise InvalidTimeZone(
            f"expected an IANA time zone name such as Asia/Tokyo or UTC, got {shown!r}"
        )
    return zone


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "")
    shown = repr(ch) if ch.isprintable() else f"U+{ord(ch):04X}"
    return f"{shown} ({name.lower()})" if name else shown


def normalize_password(password: str) -> str:
    """NFKC form of a password, to apply before hashing and before checking (SP 800-63B-4 §3.1.1.2).

    The same password typed on a Japanese IME (full-width ``Ｐａｓｓ``) or as a composed
    vs decomposed accent then verifies the same way. Changing this later would lock out
    users whose stored hash used the other form, so apply it everywhere from day one.
    """
    return unicodedata.normalize("NFKC", password)


def _is_sequence(text: str) -> bool:
    """A run like 'aaaaaaaaaaaa', 'abcdefghijkl' or '123456789012' (steps of 0 or ±1)."""
    if len(text) < 2:
        return False
    steps: set[int] = set()
    for a, b in itertools.pairwise(text):
        step = ord(b) - ord(a)
        if a.isdigit() and b.isdigit() and abs(step) == 9:
            step = -1 if step == 9 else 1  # digits wrap: ...8 9 0 1... and ...1 0 9 8...
        steps.add(step)
    return len(steps) == 1 and steps <= {-1, 0, 1}


def _repeated_unit(text: str) -> str:
    """The shortest unit that repeats to form ``text`` ('abcabcabc' -> 'abc')."""
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            return text[:size]
    return text


def _blocklist_candidates(folded: str) -> set[str]:
    """The password and its obvious variations that would defeat a plain blocklist lookup."""
    stripped = folded.strip("0123456789!@#$%^&*()_+-=.,?~ ")
    candidates = {folded, stripped, _repeated_unit(folded), _repeated_unit(stripped)}
    # Common leet substitutions ("p@ssw0rd").
    leet = str.maketrans({"@": "a", "4": "a", "0": "o", "1": "i", "3": "e", "$": "s", "5": "s"})
    candidates |= {c.translate(leet) for c in list(candidates)}
    return {c for c in candidates if c}


def password_problems(
    password: str,
    *,
    username: str,
    email: str | None,
    min_length: int = PASSWORD_MIN,
) -> list[PasswordProblem]:
    """Everything wrong with a new password per NIST SP 800-63B-4 §3.1.1.2; empty when fine.

    Checks length (``min_length``..256 characters, counted after NFKC), the username and
    the email's local part (neither equal to nor inside the password), a blocklist of
    common passwords and their obvious variations, and single-character or sequential
    runs. No composition rules (§3.1.1.2 forbids them), no expiry.
    """
    problems: list[PasswordProblem] = []
    normalized = normalize_password(password)
    length = len(normalized)
    if length < min_length:
        problems.append(
            PasswordProblem(
                code="password_too_short",
                message=f"Use at least {min_length} characters (this has {length}).",
                params={"min_length": min_length, "length": length},
            )
        )
    if length > PASSWORD_MAX:
        problems.append(
            PasswordProblem(
                code="password_too_long",
                message=f"Use at most {PASSWORD_MAX} characters (this has {length}).",
                params={"max_length": PASSWORD_MAX, "length": length},
            )
        )
    folded = normalized.casefold()
    context = (
        ("password_contains_username", "your username", username),
        ("password_contains_email", "your email address", (email or "").split("@")[0]),
    )
    for code, what, word in context:
        key = normalize_password(word).casefold()
        if key and (key == folded or (len(key) >= _CONTEXT_MIN_CONTAINED and key in folded)):
            problems.append(
                PasswordProblem(code=code, message=f"Do not use {what} in the password.")
            )
    if folded and _blocklist_candidates(folded) & COMMON_PASSWORDS:
        problems.append(
            PasswordProblem(
                code="password_too_common",
                message="This password is too common; choose one that is hard to guess.",
            )
        )
    elif _is_sequence(folded):
        problems.append(
            PasswordProblem(
                code="password_repetitive",
                message="Do not use a repeated character or a simple sequence such as abcdef.",
            )
        )
    return problems
