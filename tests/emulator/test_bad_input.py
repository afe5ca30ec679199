"""Control characters and undecodable bytes in emulator parameters (issue 9).

Each request goes through Django's test client to ``/aws`` (test_iam_service's
``DjangoAws``), so the view, routing, SigV4, the wire protocol and the error serializer
all take part. AWS answers such input with its constraint error (query services:
``ValidationError`` in an ``<ErrorResponse>``), never a 500.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from sekisho.emulator import accounts
from sekisho.emulator.errors import AwsError, printable
from sekisho.emulator.protocol.http import AwsHttpRequest
from sekisho.emulator.protocol.query import parse_query_request, serialize_query_error
from sekisho.emulator.protocol.restjson import (
    match_rest_json_operation,
    parse_rest_json_request,
    serialize_rest_json_error,
)
from sekisho.emulator.protocol.shapes import FORBIDDEN_CHARACTERS_RULE as RULE
from sekisho.emulator.protocol.shapes import load_service_model
from tests.emulator.test_bad_input_sweep import canonical_query
from tests.emulator.test_iam_service import ACCOUNT_ID, ENDPOINT, DjangoAws

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


# --- through boto3 and raw HTTP: each service's own 400 ------------------------------------


def test_connect_with_a_control_character_is_invalid_parameter(aws: DjangoAws) -> None:
    _, key_id, secret = accounts.bootstrap(ACCOUNT_ID)
    client = aws.boto("connect", key_id, secret, validate=False)
    with pytest.raises(ClientError) as info:
        client.describe_user(InstanceId="i\x01d", UserId="u\x7f")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert info.value.response["Error"]["Code"] == "InvalidParameterException"
    rule = f"failed to satisfy constraint: {RULE}"
    assert info.value.response["Error"]["Message"] == (
        f"2 validation errors detected: Value 'u\\x7f' at 'userId' {rule}; "
        f"Value 'i\\x01d' at 'instanceId' {rule}"
    )


@pytest.mark.parametrize("instance", ["i\nd", "id\n", "\n", "i\rd", "i\td"])
def test_connect_path_parameters_carry_line_breaks_as_aws_does(
    aws: DjangoAws, instance: str
) -> None:
    """TAB, LF and CR are allowed where the model has no pattern: a %0A in the path is part
    of the instance id (no such instance), never a routing miss answered with a web page."""
    _, key_id, secret = accounts.bootstrap(ACCOUNT_ID)
    client = aws.boto("connect", key_id, secret, validate=False)
    with pytest.raises(ClientError) as info:
        client.describe_user(InstanceId=instance, UserId="u")
    response = info.value.response
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/json"
    assert (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]) == (
        404,
        "ResourceNotFoundException",
    )
    assert response["Error"]["Message"] == f"Instance not found: {instance}"


def _signed_query(aws: DjangoAws, query: str) -> Any:
    """A signed IAM GET whose query string is sent as given (signed as its bytes)."""
    _, key_id, secret = accounts.bootstrap(ACCOUNT_ID)
    canonical = canonical_query(query)
    signing = AWSRequest(method="GET", url=f"{ENDPOINT}?{canonical}")
    SigV4Auth(Credentials(key_id, secret), "iam", "us-east-1").add_auth(signing)
    headers = {name: str(value) for name, value in signing.headers.items()}
    return aws.client.get(
        f"/aws?{query}", headers={**headers, "Host": "localhost:8000"}, RAW_URI=f"/aws?{query}"
    )


@pytest.mark.parametrize(
    ("value", "shown"),
    [("a%FFb", "a\\xffb"), ("a%ZZb", "a\\x25ZZb"), ("a%01b", "a\\x01b")],
)
def test_a_signed_query_string_with_bad_bytes_reaches_validation(
    aws: DjangoAws, value: str, shown: str
) -> None:
    response = _signed_query(aws, f"Action=GetRole&Version=2010-05-08&RoleName={value}")
    assert response.status_code == 400
    root = etree.fromstring(response.content)
    assert root.findtext("{*}Error/{*}Code") == "ValidationError"
    assert f"Value '{shown}' at 'roleName'" in str(root.findtext("{*}Error/{*}Message"))


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"Action=%01&Version=2010-05-08", 400, "InvalidAction"),
        (b"Action=GetRole&Version=%FF&RoleName=r", 400, "InvalidAction"),
        (b"\xff\xfe\x00\x01=\x02&%", 400, "MissingAction"),
        # A parameter no member reads is ignored, as AWS does, whatever its name holds:
        # the call goes on (and finds no role "r").
        (b"Action=GetRole&Version=2010-05-08&RoleName=r&%FF%01=x", 404, "NoSuchEntity"),
        (b"Action=GetRole&Version=2010-05-08&RoleName=r&Rol%ZZeName=x", 404, "NoSuchEntity"),
        (b"Action=GetRole&Version=2010-05-08&RoleName=r&RoleName%00=x", 404, "NoSuchEntity"),
    ],
)
def test_bad_bytes_outside_members_get_an_aws_shaped_answer(
    aws: DjangoAws, body: bytes, status: int, code: str
) -> None:
    _, key_id, secret = accounts.bootstrap(ACCOUNT_ID)
    signing = AWSRequest(
        method="POST",
        url=ENDPOINT,
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(Credentials(key_id, secret), "iam", "us-east-1").add_auth(signing)
    headers = {name: str(value) for name, value in signing.headers.items()}
    response = aws.send("POST", ENDPOINT, headers, body)
    root = etree.fromstring(response.raw.getvalue())
    message = str(root.findtext("{*}Error/{*}Message"))
    assert (response.status_code, root.findtext("{*}Error/{*}Code")) == (status, code)
    assert "\x00" not in message and "\x01" not in message and "\ufffd" not in message


def test_an_unsigned_call_with_bad_bytes_is_still_aws_shaped(aws: DjangoAws) -> None:
    response = aws.client.post(
        "/aws", b"Action=%FF%01&Version=%ZZ", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 403
    assert b"<Code>MissingAuthenticationToken</Code>" in response.content


# --- the rule itself ------------------------------------------------------------------------


IAM = load_service_model("iam")


def _iam_form(body: str) -> AwsHttpRequest:
    return AwsHttpRequest(
        "POST", "/", "", {"Content-Type": "application/x-www-form-urlencoded"}, body.encode()
    )


def test_tab_lf_and_cr_pass_where_the_model_has_no_pattern() -> None:
    body = "Action=CreatePolicy&Version=2010-05-08&PolicyName=p&PolicyDocument=%7B%7D"
    _, params = parse_query_request(_iam_form(body + "&Description=a%09b%0Ac%0Dd"), IAM)
    assert params["Description"] == "a\tb\nc\rd"


@pytest.mark.parametrize("value", ["%00", "%01", "%7F", "%FF", "%ED%B0%80", "%ZZ", "%EF%BF%BF"])
def test_the_rule_refuses_what_no_member_may_hold(value: str) -> None:
    body = "Action=CreatePolicy&Version=2010-05-08&PolicyName=p&PolicyDocument=%7B%7D"
    with pytest.raises(AwsError) as info:
        parse_query_request(_iam_form(body + f"&Description=a{value}b"), IAM)
    assert info.value.code == "ValidationError"
    assert info.value.message.endswith(f"at 'description' failed to satisfy constraint: {RULE}")


def test_del_is_refused_even_where_the_pattern_admits_it() -> None:
    # policyDocumentType's pattern is [\u0009\u000A\u000D\u0020-\u00FF]+, which takes DEL;
    # Sekisho refuses DEL in every member all the same (stricter than AWS here).
    body = "Action=CreatePolicy&Version=2010-05-08&PolicyName=p&PolicyDocument=%7B%7F%7D"
    with pytest.raises(AwsError) as info:
        parse_query_request(_iam_form(body), IAM)
    assert info.value.message == (
        "1 validation error detected: Value '{\\x7f}' at 'policyDocument' failed to satisfy "
        f"constraint: {RULE}"
    )


def test_a_value_the_pattern_refuses_reports_the_pattern_only() -> None:
    with pytest.raises(AwsError) as info:
        parse_query_request(_iam_form("Action=GetRole&Version=2010-05-08&RoleName=a%00"), IAM)
    assert info.value.message == (
        "1 validation error detected: Value 'a\\x00' at 'roleName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+"
    )


# --- properties: whatever arrives, an AwsError or a result, never anything else -----------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_any_form_body_parses_or_is_an_aws_error(body: bytes) -> None:
    prefix = b"Action=CreatePolicy&Version=2010-05-08&"
    req = AwsHttpRequest(
        "POST", "/", "", {"Content-Type": "application/x-www-form-urlencoded"}, prefix + body
    )
    try:
        parse_query_request(req, IAM)
    except AwsError as error:
        etree.fromstring(serialize_query_error(error, request_id="r", service_model=IAM).body)


CONNECT = load_service_model("connect")
url_text = st.text(alphabet=st.sampled_from("aZ0-%/?&=+\x01\x7f\xff%FF%00%ZZ"), max_size=30)


@settings(max_examples=300, deadline=None)
@given(url_text, url_text, st.binary(max_size=60))
def test_any_rest_json_request_parses_or_is_an_aws_error(
    label: str, query: str, body: bytes
) -> None:
    req = AwsHttpRequest("GET", f"/aws/users/{label}/u1", query, {}, body)
    try:
        operation, labels = match_rest_json_operation(req, CONNECT, base_path="/aws")
        parse_rest_json_request(req, operation, labels)
    except AwsError as error:
        response = serialize_rest_json_error(error, request_id="r", service_model=CONNECT)
        json.loads(response.body.decode("utf-8"))
