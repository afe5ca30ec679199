"""Signature Version 4 verification against requests signed by botocore itself."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from sekisho.emulator.errors import AwsError
from sekisho.emulator.protocol.http import AwsHttpRequest, Headers
from sekisho.emulator.protocol.query import parse_query_request
from sekisho.emulator.protocol.shapes import load_service_model
from sekisho.emulator.protocol.sigv4 import (
    SigV4Credential,
    expired_token_error,
    missing_authentication_error,
    parse_authorization,
    unknown_access_key_error,
    verify_sigv4,
)
from tests.emulator.harness import ACCESS_KEY_ID, SECRET_ACCESS_KEY, FakeAws

INSTANCE = "5b4e1c3a-0d6f-4e0a-9c55-2d1f3b7a9e01"
IDENTITY = {"UserId": "AIDA", "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/a"}


def captured(service: str, call: str, **params: Any) -> AwsHttpRequest:
    """The request botocore sends for one call, as the emulator would receive it."""
    aws = FakeAws()
    client = aws.client(service, aws_session_token=params.pop("session_token", None))
    operation = client.meta.method_to_api_mapping[call]
    aws.on(service, operation, lambda _params: {})
    with contextlib.suppress(ClientError):  # only the request matters here
        getattr(client, call)(**params)
    return aws.requests[-1]


def verify(req: AwsHttpRequest, **kwargs: Any) -> SigV4Credential:
    options: dict[str, Any] = {
        "secret_access_key": SECRET_ACCESS_KEY,
        "now": parse_authorization(req).signed_at,
    }
    options.update(kwargs)
    return verify_sigv4(req, **options)


def with_header(req: AwsHttpRequest, name: str, value: str | None) -> AwsHttpRequest:
    headers = {key: item for key, item in req.headers.items() if key.lower() != name.lower()}
    if value is not None:
        headers[name] = value
    return replace(req, headers=Headers(headers))


def rejected(req: AwsHttpRequest, **kwargs: Any) -> AwsError:
    with pytest.raises(AwsError) as excinfo:
        verify(req, **kwargs)
    return excinfo.value


@pytest.fixture(scope="module")
def iam_request() -> AwsHttpRequest:
    return captured("iam", "get_role", RoleName="ConnectAgent")


@pytest.fixture(scope="module")
def connect_request() -> AwsHttpRequest:
    return captured(
        "connect", "list_users", InstanceId=INSTANCE, MaxResults=5, NextToken="a b+c/d=e"
    )


def test_botocore_signed_requests_verify(
    iam_request: AwsHttpRequest, connect_request: AwsHttpRequest
) -> None:
    credential = verify(iam_request, expected_service="iam", expected_region="us-east-1")
    assert credential.access_key_id == ACCESS_KEY_ID
    assert (credential.region, credential.service, credential.presigned) == (
        "us-east-1",
        "iam",
        False,
    )
    assert "host" in credential.signed_headers and "x-amz-date" in credential.signed_headers
    assert credential.security_token is None
    assert verify(connect_request, protocol="rest-json").service == "connect"


def test_path_labels_with_reserved_characters_verify() -> None:
    req = captured("connect", "describe_user", InstanceId=INSTANCE, UserId="odd id:with/slash~and%")
    assert "%2F" in req.path
    verify(req, protocol="rest-json")


def test_unsigned_headers_may_change(iam_request: AwsHttpRequest) -> None:
    changed = with_header(iam_request, "User-Agent", "something else")
    verify(with_header(changed, "X-Forwarded-For", "192.0.2.7"))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda req: with_header(req, "Content-Type", "application/x-www-form-urlencoded"),
        lambda req: with_header(req, "Host", "attacker.example"),
        lambda req: with_header(req, "X-Amz-Date", "20200101T000000Z"),
        lambda req: replace(req, body=req.body.replace(b"ConnectAgent", b"Administrator")),
        lambda req: replace(req, body=req.body + b"&Extra=1"),
        lambda req: replace(req, path="/aws/other"),
        lambda req: replace(req, method="PUT"),
        lambda req: replace(req, query_string="Action=DeleteRole"),
        lambda req: with_header(req, "Content-Type", None),
    ],
    ids=["header", "host", "date", "body", "body-appended", "path", "method", "query", "dropped"],
)
def test_tampered_requests_fail(iam_request: AwsHttpRequest, tamper: Any) -> None:
    error = rejected(tamper(iam_request), now=parse_authorization(iam_request).signed_at)
    assert (error.code, error.http_status) == ("SignatureDoesNotMatch", 403)
    if error.message.startswith("The request signature"):
        assert "Check your AWS Secret Access Key" in error.message


@pytest.mark.parametrize(
    "tamper",
    [
        lambda req: replace(
            req, query_string=req.query_string.replace("maxResults=5", "maxResults=6")
        ),
        lambda req: replace(req, query_string=req.query_string + "&extra=1"),
        lambda req: replace(req, path=req.path.replace(INSTANCE, "other-instance")),
    ],
    ids=["query-value", "query-added", "path-label"],
)
def test_tampered_rest_json_requests_fail(connect_request: AwsHttpRequest, tamper: Any) -> None:
    error = rejected(tamper(connect_request), protocol="rest-json")
    assert (error.code, error.http_status) == ("InvalidSignatureException", 403)


def test_wrong_secret_fails(iam_request: AwsHttpRequest) -> None:
    error = rejected(iam_request, secret_access_key="not-the-secret")
    assert (error.code, error.http_status) == ("SignatureDoesNotMatch", 403)


def test_a_body_swapped_under_a_signed_content_hash_fails(iam_request: AwsHttpRequest) -> None:
    """A signed x-amz-content-sha256 vouches for the body only if it is the body's hash."""
    aws = FakeAws()
    aws.on("iam", "GetRole", lambda _params: {})
    client = aws.client("iam")
    client.meta.events.register(
        "before-sign.iam.GetRole",
        lambda request, **_: request.headers.__setitem__(
            "X-Amz-Content-SHA256", SigV4Auth(None, "iam", "us-east-1").payload(request)
        ),
    )
    with contextlib.suppress(ClientError):
        client.get_role(RoleName="ConnectAgent")
    req = aws.requests[-1]
    assert "x-amz-content-sha256" in parse_authorization(req).signed_headers
    verify(req)
    swapped = replace(req, body=req.body.replace(b"ConnectAgent", b"Administrator"))
    error = rejected(swapped, now=parse_authorization(req).signed_at)
    assert error.code == "SignatureDoesNotMatch"
    assert "x-amz-content-sha256" in error.message
    unsigned = with_header(req, "X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD")
    assert rejected(unsigned, now=parse_authorization(req).signed_at).code == (
        "SignatureDoesNotMatch"
    )


def test_expired_and_future_signatures(iam_request: AwsHttpRequest) -> None:
    signed_at = parse_authorization(iam_request).signed_at
    verify(iam_request, now=signed_at + timedelta(minutes=14, seconds=59))
    verify(iam_request, now=signed_at - timedelta(minutes=14, seconds=59))
    stale = rejected(iam_request, now=signed_at + timedelta(minutes=20))
    assert (stale.code, stale.http_status) == ("SignatureDoesNotMatch", 403)
    stamp = signed_at.strftime("%Y%m%dT%H%M%SZ")
    earliest = (signed_at + timedelta(minutes=5)).strftime("%Y%m%dT%H%M%SZ")
    now = (signed_at + timedelta(minutes=20)).strftime("%Y%m%dT%H%M%SZ")
    assert stale.message == (
        f"Signature expired: {stamp} is now earlier than {earliest} ({now} - 15 min.)"
    )
    future = rejected(iam_request, now=signed_at - timedelta(minutes=16))
    assert future.code == "SignatureDoesNotMatch"
    assert future.message.startswith(f"Signature not yet current: {stamp} is still later than")
    json_style = rejected(iam_request, now=signed_at + timedelta(hours=1), protocol="rest-json")
    assert json_style.code == "InvalidSignatureException"


def test_a_twenty_minute_old_request_fails_through_a_client() -> None:
    aws = FakeAws(clock=lambda: datetime.now(UTC) + timedelta(minutes=20))
    aws.on("sts", "GetCallerIdentity", IDENTITY)
    with pytest.raises(ClientError) as excinfo:
        aws.client("sts").get_caller_identity()
    error = excinfo.value.response["Error"]
    assert error["Code"] == "SignatureDoesNotMatch"
    assert error["Message"].startswith("Signature expired: ")
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unknown_access_key_through_clients() -> None:
    aws = FakeAws(secrets={})
    aws.on("sts", "GetCallerIdentity", IDENTITY)
    with pytest.raises(ClientError) as excinfo:
        aws.client("sts").get_caller_identity()
    assert excinfo.value.response["Error"]["Code"] == "InvalidClientTokenId"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as excinfo:
        aws.client("connect").describe_instance(InstanceId=INSTANCE)
    assert excinfo.value.response["Error"] == {
        "Code": "UnrecognizedClientException",
        "Message": "The security token included in the request is invalid.",
    }


def test_wrong_secret_through_a_client() -> None:
    aws = FakeAws(secrets={ACCESS_KEY_ID: "another secret"})
    aws.on("connect", "DescribeInstance", {})
    with pytest.raises(ClientError) as excinfo:
        aws.client("connect").describe_instance(InstanceId=INSTANCE)
    assert excinfo.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_session_token_is_exposed_and_signed() -> None:
    req = captured("sts", "get_caller_identity", session_token="FwoGZXIvYXdzEXAMPLE//token=")
    credential = verify(req)
    assert credential.security_token == "FwoGZXIvYXdzEXAMPLE//token="
    assert "x-amz-security-token" in credential.signed_headers
    forged = with_header(req, "X-Amz-Security-Token", "another-session")
    assert rejected(forged, now=credential.signed_at).code == "SignatureDoesNotMatch"


def presigned_request(expires: int = 900, **kwargs: Any) -> AwsHttpRequest:
    aws = FakeAws()
    sts = aws.client("sts", **kwargs)
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=expires, HttpMethod="GET")
    parts = urlsplit(url)
    return AwsHttpRequest("GET", parts.path, parts.query, {"Host": parts.netloc})


def test_presigned_url_verifies_and_parses() -> None:
    req = presigned_request()
    credential = verify(req)
    assert credential.presigned and credential.expires == 900
    assert credential.signed_headers == ("host",)
    operation, params = parse_query_request(req, load_service_model("sts"))
    assert (operation.name, params) == ("GetCallerIdentity", {})
    later = credential.signed_at + timedelta(seconds=899)
    verify(req, now=later)


def test_presigned_url_with_session_token() -> None:
    req = presigned_request(aws_session_token="session-token")
    assert verify(req).security_token == "session-token"


def test_presigned_url_expires() -> None:
    req = presigned_request(expires=60)
    signed_at = parse_authorization(req).signed_at
    error = rejected(req, now=signed_at + timedelta(seconds=61))
    assert (error.code, error.http_status) == ("RequestExpired", 400)
    assert rejected(req, now=signed_at + timedelta(seconds=61), protocol="rest-json").code == (
        "InvalidSignatureException"
    )


def test_presigned_url_tampering_fails() -> None:
    req = presigned_request()
    for query in (
        req.query_string.replace("GetCallerIdentity", "GetSessionToken"),
        req.query_string.replace("X-Amz-Expires=900", "X-Amz-Expires=3600"),
        req.query_string + "&DurationSeconds=900",
    ):
        error = rejected(replace(req, query_string=query), now=parse_authorization(req).signed_at)
        assert error.code == "SignatureDoesNotMatch"


def test_date_header_instead_of_x_amz_date() -> None:
    request = AWSRequest(
        method="POST",
        url="https://localhost:8443/aws/",
        data=b"Action=GetCallerIdentity&Version=2011-06-15",
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Date": "Thu, 01 Jan 2026 00:00:00 GMT",
        },
    )
    SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), "sts", "eu-west-1").add_auth(request)
    prepared = request.prepare()
    assert "X-Amz-Date" not in prepared.headers
    headers = {
        name: value.decode() if isinstance(value, bytes) else value
        for name, value in prepared.headers.items()
    }
    headers["Host"] = "localhost:8443"
    req = AwsHttpRequest("POST", "/aws/", "", headers, prepared.body)
    credential = verify(req)
    assert credential.region == "eu-west-1"
    assert "date" in credential.signed_headers
    assert "x-amz-date" not in credential.signed_headers


def auth(value: str, **headers: str) -> AwsHttpRequest:
    return AwsHttpRequest(
        "POST",
        "/",
        "",
        {"Authorization": value, "Host": "localhost", "X-Amz-Date": "20260101T000000Z", **headers},
    )


SCOPE = f"{ACCESS_KEY_ID}/20260101/us-east-1/iam/aws4_request"


@pytest.mark.parametrize(
    ("req", "code", "message"),
    [
        (
            AwsHttpRequest("POST", "/", "", {"Authorization": "Bearer abc"}),
            "IncompleteSignature",
            "Authorization header requires 'Credential' parameter. Authorization header "
            "requires 'Signature' parameter. Authorization header requires 'SignedHeaders' "
            "parameter. Authorization header requires existence of either a 'X-Amz-Date' or "
            "a 'Date' header. Authorization=Bearer abc",
        ),
        (
            auth(f"AWS4-HMAC-SHA256 Credential= {SCOPE}, SignedHeaders=host, Signature=ab"),
            "IncompleteSignature",
            f"'{SCOPE}' not a valid key=value pair (missing equal-sign) in Authorization "
            f"header: 'AWS4-HMAC-SHA256 Credential= {SCOPE}, SignedHeaders=host, "
            "Signature=ab'.",
        ),
        (
            auth(f"AWS4-HMAC-SHA512 Credential={SCOPE}, SignedHeaders=host, Signature=ab"),
            "IncompleteSignature",
            "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'.",
        ),
        (
            auth(f"AWS4-HMAC-SHA256 Credential={SCOPE}, SignedHeaders=x-amz-date, Signature=ab"),
            "IncompleteSignature",
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ),
        (
            auth("AWS4-HMAC-SHA256 Credential=AKID/20260101/iam, SignedHeaders=host, Signature=a"),
            "IncompleteSignature",
            "Credential must have exactly 5 slash-delimited elements, e.g. "
            "keyid/date/region/service/term, got 'AKID/20260101/iam'",
        ),
        (
            auth(
                "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/iam/aws5_request, "
                "SignedHeaders=host, Signature=ab"
            ),
            "SignatureDoesNotMatch",
            "Credential should be scoped with a valid terminator: 'aws4_request', "
            "not 'aws5_request'.",
        ),
        (
            auth(
                f"AWS4-HMAC-SHA256 Credential={SCOPE}, SignedHeaders=host, Signature=ab",
                **{"X-Amz-Date": "2026-01-01T00:00:00Z"},
            ),
            "IncompleteSignature",
            "Date must be in ISO-8601 'basic format'. Got '2026-01-01T00:00:00Z'. "
            "See http://en.wikipedia.org/wiki/ISO_8601",
        ),
        (
            AwsHttpRequest("GET", "/", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=x"),
            "IncompleteSignature",
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters.",
        ),
        (
            AwsHttpRequest("GET", "/"),
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        ),
    ],
)
def test_malformed_authentication(req: AwsHttpRequest, code: str, message: str) -> None:
    with pytest.raises(AwsError) as excinfo:
        parse_authorization(req)
    assert (excinfo.value.code, excinfo.value.message) == (code, message)


def test_components_may_be_separated_by_spaces_only() -> None:
    req = auth(f"AWS4-HMAC-SHA256 Credential={SCOPE} SignedHeaders=host;x-amz-date Signature=ab")
    credential = parse_authorization(req)
    assert (credential.signed_headers, credential.signature) == (("host", "x-amz-date"), "ab")


def test_header_and_query_authentication_together() -> None:
    req = replace(presigned_request(), headers=Headers({"Authorization": "AWS4-HMAC-SHA256 x"}))
    with pytest.raises(AwsError, match="Only one auth mechanism allowed"):
        parse_authorization(req)


@pytest.mark.parametrize("expires", ["0", "604801", "soon"])
def test_presigned_expiry_bounds(expires: str) -> None:
    req = presigned_request()
    query = "&".join(
        f"X-Amz-Expires={expires}" if part.startswith("X-Amz-Expires=") else part
        for part in req.query_string.split("&")
    )
    with pytest.raises(AwsError, match="X-Amz-Expires must be"):
        parse_authorization(replace(req, query_string=query))


def test_scope_checks(iam_request: AwsHttpRequest) -> None:
    assert rejected(iam_request, expected_service="sts").message == (
        "Credential should be scoped to correct service: 'sts'."
    )
    assert rejected(iam_request, expected_region="eu-west-1").message == (
        "Credential should be scoped to a valid region, not 'us-east-1'."
    )
    header = iam_request.headers["Authorization"]
    scope_date = parse_authorization(iam_request).date
    moved = with_header(iam_request, "Authorization", header.replace(scope_date, "20000101"))
    error = rejected(moved, now=parse_authorization(iam_request).signed_at)
    assert error.message.startswith(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        "HTTP: '20000101' != "
    )


def test_naive_now_is_a_bug(iam_request: AwsHttpRequest) -> None:
    with pytest.raises(ValueError, match="aware"):
        verify_sigv4(iam_request, secret_access_key=SECRET_ACCESS_KEY, now=datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("factory", "query_code", "json_code", "status"),
    [
        (
            missing_authentication_error,
            "MissingAuthenticationToken",
            "MissingAuthenticationTokenException",
            403,
        ),
        (unknown_access_key_error, "InvalidClientTokenId", "UnrecognizedClientException", 403),
        (expired_token_error, "ExpiredToken", "ExpiredTokenException", None),
    ],
)
def test_caller_side_errors(factory: Any, query_code: str, json_code: str, status: Any) -> None:
    assert factory().code == query_code
    assert factory("rest-json").code == json_code
    if status is not None:
        assert factory().http_status == factory("rest-json").http_status == status
