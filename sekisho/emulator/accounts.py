"""Emulated AWS accounts and their access keys: bootstrap, sealing, lookup by key id.

Identifier shapes follow "IAM identifiers" (unique IDs): a four-letter prefix naming the
kind (``AKIA`` access key, ``ASIA`` temporary key, ``AROA`` role, ``ANPA`` managed
policy) followed by upper-case base32 characters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from django.db import transaction

from sekisho.clock import SYSTEM_CLOCK, SYSTEM_RANDOM, Clock, Random
from sekisho.crypto import SecretBox
from sekisho.emulator.errors import EmulatorError
from sekisho.emulator.models import AccessKey, Account, Role
from sekisho.instance import cached_master_key

ACCESS_KEY_PREFIX = "AKIA"
SESSION_KEY_PREFIX = "ASIA"
SECRET_ACCESS_KEY_CHARS = 40


def unique_id(prefix: str, length: int, *, random: Random = SYSTEM_RANDOM) -> str:
    """A ``prefix`` followed by random upper-case base32 characters, ``length`` in all."""
    needed = length - len(prefix)
    text = base64.b32encode(random.token_bytes(needed)).decode("ascii")
    return prefix + text[:needed]


def new_account_id(*, random: Random = SYSTEM_RANDOM) -> str:
    """A random 12-digit account id (never starting with 0, so it survives int parsing)."""
    number = int.from_bytes(random.token_bytes(8), "big") % 900_000_000_000
    return str(100_000_000_000 + number)


def new_secret_access_key(*, random: Random = SYSTEM_RANDOM) -> str:
    """A 40-character secret access key (base64 alphabet, as AWS's)."""
    return base64.b64encode(random.token_bytes(30)).decode("ascii")[:SECRET_ACCESS_KEY_CHARS]


def _box() -> SecretBox:
    return SecretBox.from_master_key(cached_master_key())


def _secret_context(access_key_id: str) -> str:
    # Binds the sealed secret to its key id: a token copied to another row will not open.
    return f"aws-secret-access-key:{access_key_id}"


def token_sha256(session_token: str) -> str:
    """The digest stored for a session token (the token itself is never stored)."""
    return hashlib.sha256(session_token.encode("utf-8")).hexdigest()


def create_access_key(
    account: Account,
    *,
    prefix: str = ACCESS_KEY_PREFIX,
    clock: Clock = SYSTEM_CLOCK,
    random: Random = SYSTEM_RANDOM,
    **owner: object,
) -> tuple[AccessKey, str]:
    """Store a new access key of ``account`` and return it with its plain secret.

    ``owner`` fields (``role``, ``session_name``, ``session_token_sha256``, ``expiration``)
    make it a role session's key; without them the key is the account root's.
    """
    access_key_id = unique_id(prefix, 20, random=random)
    secret = new_secret_access_key(random=random)
    sealed = _box().seal(secret.encode("utf-8"), context=_secret_context(access_key_id))
    role = owner.get("role")
    if isinstance(role, Role):
        owner = {
            "session_role_arn": role.arn,
            "session_role_unique_id": role.role_id,
            **owner,
        }
    key = AccessKey.objects.create(
        account=account,
        access_key_id=access_key_id,
        sealed_secret=sealed,
        created=clock.now(),
        **owner,
    )
    return key, secret


def secret_of(key: AccessKey) -> str:
    """The plain secret access key of a stored key.

    Raises:
        CryptoError: the sealed value does not open (wrong master key, or a moved row).
    """
    return _box().open(key.sealed_secret, context=_secret_context(key.access_key_id)).decode()


def find_access_key(access_key_id: str) -> AccessKey | None:
    """The active access key with this id, or None."""
    return (
        AccessKey.objects.select_related("account", "role")
        .filter(access_key_id=access_key_id, status="Active")
        .first()
    )


def session_token_matches(key: AccessKey, session_token: str | None) -> bool:
    """Whether a request's session token fits the key (long-term keys take none)."""
    if not key.session_token_sha256:
        return session_token is None
    if session_token is None:
        return False
    return hmac.compare_digest(key.session_token_sha256, token_sha256(session_token))


def is_expired(key: AccessKey, now: datetime) -> bool:
    """Whether a temporary key is past its expiration."""
    return key.expiration is not None and now >= key.expiration


def bootstrap(
    account_id: str | None = None, *, clock: Clock = SYSTEM_CLOCK, random: Random = SYSTEM_RANDOM
) -> tuple[Account, str, str]:
    """Create (or reuse) an account and a new root access key: (account, key id, secret).

    Raises:
        EmulatorError: ``account_id`` is not 12 digits.
    """
    if account_id is not None and not (
        len(account_id) == 12 and account_id.isascii() and account_id.isdigit()
    ):
        raise EmulatorError(
            f"expected a 12-digit account id, got {account_id!r}", code="invalid_account_id"
        )
    with transaction.atomic():
        if account_id is None:
            account = Account.objects.order_by("id").first()
            if account is None:
                account = Account.objects.create(
                    account_id=new_account_id(random=random), created=clock.now()
                )
        else:
            account, _ = Account.objects.get_or_create(
                account_id=account_id, defaults={"created": clock.now()}
            )
        key, secret = create_access_key(account, clock=clock, random=random)
    return account, key.access_key_id, secret
