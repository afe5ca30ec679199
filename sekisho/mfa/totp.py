"""TOTP authenticator apps (RFC 6238 over RFC 4226 HOTP): secrets, enrollment URIs, QR, verify.

Parameters are fixed at SHA-1, 6 digits and 30-second steps: the only combination that
Google Authenticator, Authy and Microsoft Authenticator all honour (several ignore the
``algorithm``/``digits``/``period`` URI parameters).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import html
import re
from datetime import datetime, timedelta
from urllib.parse import quote

import segno

from sekisho.clock import Random
from sekisho.mfa.errors import (
    EnrollmentExpired,
    InvalidCode,
    MalformedCode,
    MfaError,
    ReusedCode,
    TooManyDevices,
)

DIGITS = 6
PERIOD_SECONDS = 30
SECRET_BYTES = 20  # 160 bits: RFC 4226 §4 R6 recommends a 160-bit shared secret
MIN_SECRET_BYTES = 16  # RFC 4226 §4 R6: at least 128 bits
MAX_WINDOW = 10
MAX_DEVICES_PER_USER = 2
ENROLLMENT_TTL = timedelta(minutes=10)
QR_TARGET_PIXELS = 200
DEFAULT_QR_TITLE = "QR code to add this account to your authenticator app"

# Longer input cannot be a code with separators; refuse it before doing any work.
_MAX_RAW_CODE_CHARS = 64
_CODE = re.compile(r"[0-9]{6}")
# Japanese IMEs in full-width mode type '０'-'９', and a hyphen as '－' or the prolonged
# sound mark 'ー'; apps display codes as "123 456" or "123-456".
_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_SEPARATORS = frozenset("-‐‑‒–—−－ーｰ")


def _hotp(key: bytes, counter: int, *, digits: int = DIGITS, digest: str = "sha1") -> str:
    """HOTP value for one counter (RFC 4226 §5.3; RFC 6238 §1.2 allows SHA-256/512)."""
    mac = hmac.new(key, counter.to_bytes(8, "big"), digest).digest()
    offset = mac[-1] & 0x0F  # dynamic truncation, RFC 4226 §5.3
    binary = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def _decode_secret(secret: str) -> bytes:
    cleaned = secret.replace(" ", "").upper()
    try:
        key = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8), casefold=False)
    except (binascii.Error, ValueError):
        raise MfaError("the stored TOTP secret is not base32", code="mfa_bad_secret") from None
    if len(key) < MIN_SECRET_BYTES:
        raise MfaError(
            f"the stored TOTP secret has {len(key) * 8} bits, expected at least "
            f"{MIN_SECRET_BYTES * 8}",
            code="mfa_bad_secret",
        )
    return key


def new_secret(random: Random) -> str:
    """Return a fresh 160-bit secret as unpadded base32 (32 characters), as apps expect."""
    raw = random.token_bytes(SECRET_BYTES)
    if len(raw) != SECRET_BYTES:
        raise MfaError("random source returned too few bytes", code="mfa_bad_secret")
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def time_step(now: datetime) -> int:
    """The RFC 6238 §4.2 time step T = floor(unix time / 30) for an aware datetime."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (a naive datetime would use local time)")
    return int(now.timestamp()) // PERIOD_SECONDS


def code_at(*, secret: str, now: datetime) -> str:
    """The 6-digit code an app shows at ``now`` (for tests and diagnostics, never for display)."""
    return _hotp(_decode_secret(secret), time_step(now))


def provisioning_uri(*, secret: str, account_name: str, issuer: str) -> str:
    """The ``otpauth://totp/Issuer:account?secret=…&issuer=…`` URI (Google Key URI format).

    The issuer appears both as the label prefix and as the ``issuer`` parameter so old and
    new apps both show it; defaults (SHA1, 6 digits, 30 s) are left out on purpose.
    """
    for what, value in (("issuer", issuer), ("account_name", account_name)):
        if not value or ":" in value:
            raise ValueError(f"{what} must be non-empty and contain no colon, got {value!r}")
    _decode_secret(secret)
    label = f"{quote(issuer, safe='')}:{quote(account_name, safe='@')}"
    secret_param = secret.replace(" ", "").upper().rstrip("=")
    return f"otpauth://totp/{label}?secret={secret_param}&issuer={quote(issuer, safe='')}"


def qr_svg(uri: str, *, title: str = DEFAULT_QR_TITLE) -> str:
    """Render ``uri`` as an inline SVG QR code (~200 px, black on white, titled for screen readers).

    No XML declaration, so it can be embedded in HTML as is. The quiet zone is the four
    modules ISO/IEC 18004 asks for; phones scan it reliably at this size.
    """
    qr = segno.make(uri, error="m", micro=False)
    width = int(qr.symbol_size(scale=1, border=4)[0])
    scale = max(2, round(QR_TARGET_PIXELS / width))
    svg = str(qr.svg_inline(scale=scale, border=4, dark="#000", light="#fff", title=title))
    if not svg.startswith("<svg "):
        raise AssertionError("segno returned an unexpected SVG prologue")
    label = html.escape(title, quote=True)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)


def normalize_code(raw: str) -> str:
    """Return the 6 ASCII digits of a typed code, or raise MalformedCode.

    Spaces, hyphens and full-width digits are accepted because apps show "123 456" and
    Japanese IMEs type '１２３４５６'.
    """
    if len(raw) > _MAX_RAW_CODE_CHARS:
        raise MalformedCode()
    text = raw.translate(_FULLWIDTH_DIGITS)
    text = "".join(ch for ch in text if not ch.isspace() and ch not in _SEPARATORS)
    if _CODE.fullmatch(text) is None:
        raise MalformedCode()
    return text


def verify(
    *,
    secret: str,
    code: str,
    now: datetime,
    last_used_step: int | None,
    window: int = 1,
) -> int:
    """Check a typed TOTP code and return the time step it matched.

    Args:
        secret: the device's base32 secret.
        code: the code as typed (normalised here with ``normalize_code``).
        now: the current aware time.
        last_used_step: the step accepted last for this device, or None if none yet;
            the caller stores the returned step here.
        window: steps accepted either side of now, for clock skew and typing delay
            (RFC 6238 §5.2 recommends at most one).

    Returns:
        The matched time step (always greater than ``last_used_step``).

    Raises:
        MalformedCode: the input is not 6 digits.
        ReusedCode: the code belongs to a step at or before ``last_used_step``
            (RFC 6238 §5.2: a verifier must not accept the same OTP twice, and an older
            step would reopen a replay window).
        InvalidCode: no step in the window matches.
    """
    if not 0 <= window <= MAX_WINDOW:
        raise ValueError(f"window must be between 0 and {MAX_WINDOW}, got {window}")
    typed = normalize_code(code)
    key = _decode_secret(secret)
    current = time_step(now)
    matched: list[int] = []
    for step in range(max(0, current - window), current + window + 1):
        # Every candidate is computed and compared, so timing does not depend on which
        # step (if any) matched.
        if hmac.compare_digest(_hotp(key, step), typed):
            matched.append(step)
    fresh = [step for step in matched if last_used_step is None or step > last_used_step]
    if fresh:
        return min(fresh)
    if matched:
        raise ReusedCode()
    raise InvalidCode()


def check_can_add(existing_confirmed: int) -> None:
    """Raise TooManyDevices when a user already has MAX_DEVICES_PER_USER confirmed apps."""
    if existing_confirmed >= MAX_DEVICES_PER_USER:
        raise TooManyDevices(
            f"at most {MAX_DEVICES_PER_USER} authenticator apps can be registered, "
            f"{existing_confirmed} already are"
        )


def check_enrollment_fresh(
    *, started_at: datetime, now: datetime, ttl: timedelta = ENROLLMENT_TTL
) -> None:
    """Raise EnrollmentExpired when a pending registration is older than ``ttl``.

    A secret shown on screen but never confirmed should not stay usable indefinitely.
    """
    if now - started_at > ttl:
        raise EnrollmentExpired()
