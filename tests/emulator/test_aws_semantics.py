"""AWS semantics the emulator must reproduce exactly (issue 13, findings 3-5).

Each test drives the emulator with boto3 through Django (test_iam_service's DjangoAws) and
checks the answer AWS gives: the SigV4 credential scope's region, a Connect InstanceId
given as another account's or region's ARN, and the credentials of a deleted role.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from sekisho.emulator import accounts
from tests.emulator.test_iam_service import ACCOUNT_ID, DjangoAws, code_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def aws() -> DjangoAws:
    return DjangoAws()


@pytest.fixture
def root_keys() -> tuple[str, str]:
    _, key_id, secret = accounts.bootstrap(ACCOUNT_ID)
    return key_id, secret


# --- finding 3: the credential scope names the region the service answers for -------------


def test_iam_must_be_signed_for_us_east_1(aws: DjangoAws, root_keys: tuple[str, str]) -> None:
    assert aws.boto("iam", *root_keys).list_roles()["Roles"] == []
    for region in ("ap-northeast-1", "eu-west-1"):
        with pytest.raises(ClientError) as refused:
            aws.boto("iam", *root_keys, region=region).list_roles()
        assert code_of(refused) == "SignatureDoesNotMatch"
        assert "Credential should be scoped to a valid region" in str(refused.value)


def test_connect_and_sts_answer_only_for_their_regions(
    aws: DjangoAws, root_keys: tuple[str, str]
) -> None:
    # Amazon Connect exists in ap-northeast-1, not in us-west-1 (botocore's endpoint data).
    assert "InstanceSummaryList" in aws.boto(
        "connect", *root_keys, region="ap-northeast-1"
    ).list_instances()
    with pytest.raises(ClientError) as refused:
        aws.boto("connect", *root_keys, region="us-west-1").list_instances()
    assert code_of(refused) == "InvalidSignatureException"
    # STS has regional endpoints everywhere, but not in a region that does not exist.
    identity = aws.boto("sts", *root_keys, region="ap-northeast-1").get_caller_identity()
    assert identity["Account"] == ACCOUNT_ID
    with pytest.raises(ClientError) as refused:
        aws.boto("sts", *root_keys, region="eu-fake-1").get_caller_identity()
    assert code_of(refused) == "SignatureDoesNotMatch"
