"""The emulator's administrative services, shared by `sekisho aws …` and the demo."""

from __future__ import annotations

from dataclasses import dataclass

from sekisho.emulator import accounts


@dataclass(frozen=True)
class RootKey:
    """An emulated account and a fresh access key of its root user."""

    account_id: str
    access_key_id: str
    secret_access_key: str


def bootstrap_account(account_id: str | None = None) -> RootKey:
    """Create (or reuse) the emulated account and issue a new root access key.

    Everything else (IAM, STS, Connect) is then done through the AWS API under /aws, with
    that key, by boto3, the AWS CLI or any SDK.
    """
    account, key_id, secret = accounts.bootstrap(account_id)
    return RootKey(
        account_id=str(account.account_id), access_key_id=key_id, secret_access_key=secret
    )
