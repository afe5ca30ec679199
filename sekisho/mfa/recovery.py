"""Recovery codes: ten single-use codes, shown once and stored only as keyed hashes."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

from sekisho.clock import Random
from sekisho.mfa import errors

CODES_PER_SET = 10
# Lower-case letters and digits without look-alikes (0/o, 1/l/i): 31 symbols, almost 5 bits each.
ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
GROUP = 5
LENGTH = 10  # 49.5 bits per code: a keyed SHA-256 suffices, no slow hash is needed


def new_code(random: Random) -> str:
    """One fresh code, shown as two groups of five (``k7m2p-x9qrt``)."""
    symbols: list[str] = []
    while len(symbols) < LENGTH:
        # Rejection sampling keeps every symbol uniform over the 31-symbol alphabet.
        for byte in random.token_bytes(LENGTH * 2):
            if byte < 248 and len(symbols) < LENGTH:
                symbols.append(ALPHABET[byte % len(ALPHABET)])
    text = "".join(symbols)
    return f"{text[:GROUP]}-{text[GROUP:]}"


def new_codes(random: Random, count: int = CODES_PER_SET) -> list[str]:
    """A fresh set of distinct codes."""
    codes: list[str] = []
    while len(codes) < count:
        code = new_code(random)
        if code not in codes:
            codes.append(code)
    return codes


def normalize(raw: str) -> str:
    """The code as stored: NFKC (full-width input), no spaces or hyphens, lower case.

    Raises:
        RecoveryCodeInvalid: not ten symbols of the alphabet once normalized.
    """
    text = unicodedata.normalize("NFKC", raw or "").strip().lower()
    text = "".join(ch for ch in text if ch not in " -\u2010\u2011\u2012\u2013\u2212")
    if len(text) != LENGTH or any(ch not in ALPHABET for ch in text):
        raise errors.RecoveryCodeInvalid("expected a recovery code such as k7m2p-x9qrt")
    return text


def digest(code: str, *, key: bytes, user_uid: str) -> str:
    """The keyed hash stored for a code; bound to its owner so a row copied elsewhere fails."""
    message = f"{user_uid}:{normalize(code)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
