"""Which service a request to the single emulated AWS endpoint is for."""

from __future__ import annotations

import contextlib

import pytest
from botocore.exceptions import ClientError

from sekisho.emulator.errors import AwsError
from sekisho.emulator.protocol.http import AwsHttpRequest
from sekisho.emulator.protocol.routing import identify_service
from tests.emulator.harness import FakeAws

ACCOUNT = "123456789012"
SAML = {
    "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/ConnectAgent",
    "PrincipalArn": f"arn:aws:iam::{ACCOUNT}:saml-provider/Sekisho",
    "SAMLAssertion": "PHNhbWxwOlJlc3BvbnNlLz4=",
}


def sent(service: str, call: str, **params: object) -> AwsHttpRequest:
    aws = FakeAws()
    client = aws.client(service)
    aws.on(service, client.meta.method_to_api_mapping[call], {})
    with contextlib.suppress(ClientError):  # only the request matters
        getattr(client, call)(**params)
    return aws.requests[-1]


@pytest.mark.parametrize(
    ("service", "call", "params"),
    [
        ("iam", "list_roles", {}),
        ("sts", "get_caller_identity", {}),
        ("connect", "describe_instance", {"InstanceId": "i"}),
        ("sts", "assume_role_with_saml", SAML),
        (
            "sts",
            "assume_role_with_web_identity",
            {
                "RoleArn": SAML["RoleArn"],
                "RoleSessionName": "alice",
                "WebIdentityToken": "eyJhbGciOi.token",
            },
        ),
    ],
)
def test_requests_from_botocore(service: str, call: str, params: dict[str, object]) -> None:
    assert identify_service(sent(service, call, **params)) == service


def test_presigned_requests_name_their_service() -> None:
    url = FakeAws().client("sts").generate_presigned_url("get_caller_identity", HttpMethod="GET")
    _path, _, query = url.partition("?")
    assert identify_service(AwsHttpRequest("GET", "/aws", query)) == "sts"


def test_unsigned_saml_call_in_the_query_string() -> None:
    req = AwsHttpRequest("GET", "/", "Action=AssumeRoleWithSAML&Version=2011-06-15")
    assert identify_service(req) == "sts"


@pytest.mark.parametrize(
    "req",
    [
        AwsHttpRequest(
            "POST",
            "/",
            "",
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"Action=GetCallerIdentity&Version=2011-06-15",
        ),
        AwsHttpRequest(
            "POST", "/", "", {"Content-Type": "application/json"}, b"Action=AssumeRoleWithSAML"
        ),
        AwsHttpRequest("GET", "/users-summary/instance"),
        AwsHttpRequest("GET", "/", "Action=%FF"),
    ],
)
def test_other_unsigned_requests_need_authentication(req: AwsHttpRequest) -> None:
    with pytest.raises(AwsError) as excinfo:
        identify_service(req)
    assert (excinfo.value.code, excinfo.value.http_status) == ("MissingAuthenticationToken", 403)


def test_unknown_service_in_scope() -> None:
    req = sent("sts", "get_caller_identity")
    header = req.headers["Authorization"].replace("/sts/", "/s3/")
    forged = AwsHttpRequest(req.method, req.path, "", {**req.headers, "Authorization": header})
    with pytest.raises(AwsError) as excinfo:
        identify_service(forged)
    assert excinfo.value.code == "SignatureDoesNotMatch"
    assert excinfo.value.message == (
        "Credential should be scoped to correct service: one of 'connect', 'iam', 'sts', not 's3'."
    )
    assert identify_service(forged, services=("s3",)) == "s3"


def test_authorization_without_scope() -> None:
    with pytest.raises(AwsError) as excinfo:
        identify_service(AwsHttpRequest("POST", "/", "", {"Authorization": "Basic abc"}))
    assert excinfo.value.code == "IncompleteSignature"
