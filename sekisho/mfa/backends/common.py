"""What the method modules share: sealing secrets under the instance's master key."""

from __future__ import annotations

from sekisho.crypto import SecretBox
from sekisho.instance import cached_master_key


def box() -> SecretBox:
    """The AES-256-GCM box for MFA secrets (an HKDF subkey of ``master.key``)."""
    return SecretBox.from_master_key(cached_master_key())
