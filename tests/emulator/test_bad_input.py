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
from sekisho.emulator.errors import AwsError, printable
from sekisho.emulator.protocol.query import serialize_query_error
from sekisho.emulator.protocol.restjson import serialize_rest_json_error
from sekisho.emulator.protocol.shapes import load_service_model
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


# --- error messages never carry what XML or UTF-8 cannot -----------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a\x01b", "a\\x01b"),
        ("\x00\x1f\x7f", "\\x00\\x1f\\x7f"),
        ("tab\tlf\ncr\r", "tab\tlf\ncr\r"),  # XML 1.0 carries these three
        ("\udcff", "\\xff"),  # an undecodable byte, as surrogateescape keeps it
        ("\ud800", "\\ud800"),  # a lone surrogate from a JSON "\\ud800" escape
        ("\ufffe\uffff", "\\ufffe\\uffff"),
        ("caf\u00e9 \u6771\u4eac \U0001f600 \\w", "caf\u00e9 \u6771\u4eac \U0001f600 \\w"),
    ],
)
def test_printable_escapes_only_what_cannot_be_carried(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_an_error_keeps_its_message_and_fields_printable() -> None:
    error = AwsError("X", "bad \x00 value", fields={"Reason": "r\x01", "Count": 1})
    assert error.message == "bad \\x00 value"
    assert error.fields == {"Reason": "r\\x01", "Count": 1}


@pytest.mark.parametrize("service", ["iam", "sts"])
def test_a_query_error_with_any_code_is_well_formed_xml(service: str) -> None:
    error = AwsError("Odd\x01Code", "message \x02")
    response = serialize_query_error(
        error, request_id="r", service_model=load_service_model(service)
    )
    root = etree.fromstring(response.body)
    assert root.findtext("{*}Error/{*}Code") == "Odd\\x01Code"
    assert root.findtext("{*}Error/{*}Message") == "message \\x02"


def test_a_rest_json_error_with_a_lone_surrogate_is_utf8_json() -> None:
    error = AwsError("InvalidParameterException", "Value '\ud800'")
    response = serialize_rest_json_error(
        error, request_id="r", service_model=load_service_model("connect")
    )
    assert response.body.decode("utf-8") == '{"Message":"Value \'\\\\ud800\'"}'
