"""Control characters and undecodable bytes in emulator parameters (issue 9).

Each request goes through Django's test client to ``/aws`` (test_iam_service's
``DjangoAws``), so the view, routing, SigV4, the wire protocol and the error serializer
all take part. AWS answers such input with its constraint error (query services:
``ValidationError`` in an ``<ErrorResponse>``), never a 500.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from lxml import etree

from sekisho.emulator import accounts
from tests.emulator.test_iam_service import ACCOUNT_ID, DjangoAws

pytestmark = pytest.mark.django_db

QUERY_NS = {"aws": "https://sts.amazonaws.com/doc/2011-06-15/"}


@pytest.fixture
def aws() -> DjangoAws:
    return DjangoAws()


@pytest.fixture
def iam_root(aws: DjangoAws) -> Any:
    """An IAM client of the account root that lets any value through (no client checks)."""
    _, key_id, secret = accounts.bootstrap(ACCOUNT_ID)
    return aws.boto("iam", key_id, secret, validate=False)


@pytest.mark.xfail(strict=True, reason="issue 9: the error's XML cannot carry \\x01")
def test_get_role_with_a_control_character_is_a_validation_error(iam_root: Any) -> None:
    with pytest.raises(ClientError) as info:
        iam_root.get_role(RoleName="a\x01b")
    error = info.value.response["Error"]
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Code"] == "ValidationError"
    assert error["Message"] == (
        "1 validation error detected: Value 'a\\x01b' at 'roleName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+"
    )


@pytest.mark.xfail(strict=True, reason="issue 9: the error's XML cannot carry \\x01")
def test_assume_role_with_saml_with_a_control_character_is_a_validation_error(
    aws: DjangoAws,
) -> None:
    response = aws.client.post(
        "/aws",
        "Action=AssumeRoleWithSAML&Version=2011-06-15&RoleArn=%01"
        f"&PrincipalArn=arn:aws:iam::{ACCOUNT_ID}:saml-provider/Sekisho"
        "&SAMLAssertion=" + "A" * 8,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    root = etree.fromstring(response.content)
    assert root.findtext("aws:Error/aws:Code", namespaces=QUERY_NS) == "ValidationError"
    message = root.findtext("aws:Error/aws:Message", namespaces=QUERY_NS)
    assert message is not None
    assert "Value '\\x01' at 'roleArn'" in message
    assert "\x01" not in message
