"""The rest-json protocol (Amazon Connect) round-tripped through real botocore clients."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sekisho.emulator.errors import AwsError, ResultShapeError
from sekisho.emulator.protocol.http import AwsHttpRequest
from sekisho.emulator.protocol.restjson import (
    match_rest_json_operation,
    parse_rest_json_request,
    serialize_rest_json_error,
    serialize_rest_json_response,
)
from sekisho.emulator.protocol.shapes import load_service_model, modeled_error
from tests.emulator.harness import FakeAws, without_metadata

CONNECT = load_service_model("connect")
INSTANCE = "5b4e1c3a-0d6f-4e0a-9c55-2d1f3b7a9e01"
ARN = f"arn:aws:connect:us-east-1:123456789012:instance/{INSTANCE}"
USER_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


@pytest.fixture
def aws() -> FakeAws:
    return FakeAws()


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = excinfo.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def test_create_instance(aws: FakeAws) -> None:
    result = {"Id": INSTANCE, "Arn": ARN}
    aws.on("connect", "CreateInstance", result)
    params = {
        "ClientToken": "token-1",
        "IdentityManagementType": "SAML",
        "InstanceAlias": "sekisho-demo",
        "InboundCallsEnabled": True,
        "OutboundCallsEnabled": False,
        "Tags": {"team": "support"},
    }
    response = aws.client("connect").create_instance(**params)
    request = aws.last.request
    assert (request.method, request.path) == ("PUT", "/aws/instance")
    assert aws.last.params == params
    assert without_metadata(response) == result
    assert response["ResponseMetadata"]["RequestId"]


def test_create_user_with_uri_label_and_body(aws: FakeAws) -> None:
    result = {"UserId": USER_ID, "UserArn": f"{ARN}/agent/{USER_ID}"}
    aws.on("connect", "CreateUser", result)
    params = {
        "InstanceId": INSTANCE,
        "Username": "alice@example.com",
        "Password": "Passw0rd!",
        "IdentityInfo": {"FirstName": "Alice", "LastName": "Liddell"},
        "PhoneConfig": {"PhoneType": "SOFT_PHONE", "AutoAccept": False},
        "SecurityProfileIds": ["agent-profile"],
        "RoutingProfileId": "basic-routing",
        "Tags": {"source": "sekisho"},
    }
    response = aws.client("connect").create_user(**params)
    assert aws.last.request.path == f"/aws/users/{INSTANCE}"
    assert aws.last.params == params
    assert without_metadata(response) == result


USER = {
    "Id": USER_ID,
    "Arn": f"{ARN}/agent/{USER_ID}",
    "Username": "alice",
    "IdentityInfo": {"FirstName": "Alice", "LastName": "Liddell"},
    "PhoneConfig": {
        "PhoneType": "SOFT_PHONE",
        "AutoAccept": True,
        "AfterContactWorkTimeLimit": 30,
    },
    "SecurityProfileIds": ["agent-profile"],
    "RoutingProfileId": "basic-routing",
    "Tags": {"source": "sekisho"},
    "AutoAcceptConfigs": [{"Channel": "VOICE", "AutoAccept": True}],
    "LastModifiedTime": datetime(2026, 2, 3, 4, 5, 6, 789000, tzinfo=UTC),
    "LastModifiedRegion": "us-east-1",
}


def test_describe_user(aws: FakeAws) -> None:
    aws.on("connect", "DescribeUser", {"User": USER})
    response = aws.client("connect").describe_user(InstanceId=INSTANCE, UserId=USER_ID)
    assert aws.last.params == {"InstanceId": INSTANCE, "UserId": USER_ID}
    assert without_metadata(response) == {"User": USER}


def test_uri_labels_are_decoded(aws: FakeAws) -> None:
    aws.on("connect", "DescribeUser", {"User": USER})
    aws.client("connect").describe_user(InstanceId=INSTANCE, UserId="odd id:with/slash")
    assert aws.last.request.path == f"/aws/users/{INSTANCE}/odd%20id%3Awith%2Fslash"
    assert aws.last.params["UserId"] == "odd id:with/slash"


def test_list_users_with_query_parameters(aws: FakeAws) -> None:
    summary = {
        "Id": USER_ID,
        "Arn": USER["Arn"],
        "Username": "alice",
        "LastModifiedTime": datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC),
        "LastModifiedRegion": "us-east-1",
    }
    result = {"UserSummaryList": [summary, {**summary, "Username": "bob"}], "NextToken": "n2"}
    aws.on("connect", "ListUsers", result)
    response = aws.client("connect").list_users(InstanceId=INSTANCE, MaxResults=2, NextToken="n1")
    request = aws.last.request
    assert request.path == f"/aws/users-summary/{INSTANCE}"
    assert sorted(request.query_pairs()) == [("maxResults", "2"), ("nextToken", "n1")]
    assert aws.last.params == {"InstanceId": INSTANCE, "MaxResults": 2, "NextToken": "n1"}
    assert without_metadata(response) == result


def test_get_federation_token(aws: FakeAws) -> None:
    result = {
        "Credentials": {
            "AccessToken": "access",
            "AccessTokenExpiration": datetime(2026, 2, 3, 16, 0, tzinfo=UTC),
            "RefreshToken": "refresh",
            "RefreshTokenExpiration": datetime(2026, 2, 4, 4, 0, tzinfo=UTC),
        },
        "SignInUrl": "https://sekisho-demo.my.connect.aws/auth/sign-in?token=x",
        "UserArn": USER["Arn"],
        "UserId": USER_ID,
    }
    aws.on("connect", "GetFederationToken", result)
    response = aws.client("connect").get_federation_token(InstanceId=INSTANCE)
    assert (aws.last.request.method, aws.last.request.path) == (
        "GET",
        f"/aws/user/federate/{INSTANCE}",
    )
    assert aws.last.params == {"InstanceId": INSTANCE}
    assert without_metadata(response) == result


def test_response_wire_format() -> None:
    operation = CONNECT.operation_model("DescribeUser")
    response = serialize_rest_json_response(operation, {"User": USER}, request_id="req-1")
    assert response.status == 200
    assert response.headers["x-amzn-requestid"] == "req-1"
    assert response.headers["content-type"] == "application/json"
    document = json.loads(response.body)
    assert document["User"]["LastModifiedTime"] == 1770091506.789
    assert document["User"]["PhoneConfig"]["AutoAccept"] is True


def test_modeled_connect_error(aws: FakeAws) -> None:
    def missing(params: dict[str, Any]) -> dict[str, Any]:
        raise modeled_error(
            CONNECT, "ResourceNotFoundException", f"User {params['UserId']} not found"
        )

    aws.on("connect", "DescribeUser", missing)
    connect = aws.client("connect")
    with pytest.raises(connect.exceptions.ResourceNotFoundException) as excinfo:
        connect.describe_user(InstanceId=INSTANCE, UserId="nobody")
    assert error_of(excinfo) == ("ResourceNotFoundException", "User nobody not found", 404)
    assert excinfo.value.response["Message"] == "User nobody not found"


def test_error_with_modeled_fields(aws: FakeAws) -> None:
    def invalid(_params: dict[str, Any]) -> dict[str, Any]:
        raise modeled_error(
            CONNECT,
            "InvalidRequestException",
            "Email is not allowed for SAML instances",
            Reason={"AttachedFileInvalidRequestExceptionReason": "INVALID_FILE_NAME"},
        )

    aws.on("connect", "CreateUser", invalid)
    connect = aws.client("connect")
    with pytest.raises(connect.exceptions.InvalidRequestException) as excinfo:
        connect.create_user(
            InstanceId=INSTANCE,
            Username="alice",
            SecurityProfileIds=["p"],
            RoutingProfileId="r",
        )
    assert error_of(excinfo) == (
        "InvalidRequestException",
        "Email is not allowed for SAML instances",
        400,
    )
    assert excinfo.value.response["Reason"] == {
        "AttachedFileInvalidRequestExceptionReason": "INVALID_FILE_NAME"
    }


def test_error_wire_format() -> None:
    error = modeled_error(CONNECT, "DuplicateResourceException", "User exists")
    response = serialize_rest_json_error(error, request_id="req-3", service_model=CONNECT)
    assert response.status == 409
    assert response.headers["x-amzn-errortype"] == "DuplicateResourceException"
    assert json.loads(response.body) == {"Message": "User exists"}
    unmodeled = serialize_rest_json_error(AwsError("ThrottlingException", "slow"), request_id="r")
    assert json.loads(unmodeled.body) == {"message": "slow"}


def test_missing_required_members(aws: FakeAws) -> None:
    connect = aws.client("connect", config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as excinfo:
        connect.create_user(InstanceId=INSTANCE, Username="alice")
    assert error_of(excinfo) == (
        "InvalidParameterException",
        "2 validation errors detected: "
        "Value null at 'securityProfileIds' failed to satisfy constraint: "
        "Member must not be null; "
        "Value null at 'routingProfileId' failed to satisfy constraint: "
        "Member must not be null",
        400,
    )


def test_validation_exception_falls_back_to_invalid_request(aws: FakeAws) -> None:
    connect = aws.client("connect", config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as excinfo:
        connect.create_instance(
            IdentityManagementType="LDAP",
            InboundCallsEnabled=True,
            OutboundCallsEnabled=True,
            InstanceAlias="d-notallowed",
        )
    code, message, status = error_of(excinfo)
    assert (code, status) == ("InvalidRequestException", 400)
    assert message == (
        "2 validation errors detected: "
        "Value 'LDAP' at 'identityManagementType' failed to satisfy constraint: "
        "Member must satisfy enum value set: [SAML, CONNECT_MANAGED, EXISTING_DIRECTORY]; "
        "Value at 'instanceAlias' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: "
        "^(?!d-)([\\da-zA-Z]+)([-]*[\\da-zA-Z])*$"
    )


def connect_request(method: str, path: str, body: bytes, query: str = "") -> AwsHttpRequest:
    return AwsHttpRequest(method, path, query, {"Content-Type": "application/json"}, body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "The request body is not valid JSON"),
        (b"[1, 2]", "The request body must be a JSON object"),
        (b'{"Username": 5}', "Username: expected a string, got a number"),
        (b'{"SecurityProfileIds": "p"}', "SecurityProfileIds: expected an array, got a string"),
        (
            b'{"PhoneConfig": {"AutoAccept": "yes"}}',
            "PhoneConfig.AutoAccept: expected a boolean, got a string",
        ),
        (
            b'{"PhoneConfig": {"AfterContactWorkTimeLimit": true}}',
            "PhoneConfig.AfterContactWorkTimeLimit: expected an integer, got a boolean",
        ),
    ],
)
def test_malformed_bodies(body: bytes, message: str) -> None:
    req = connect_request("PUT", f"/users/{INSTANCE}", body)
    operation, labels = match_rest_json_operation(req, CONNECT)
    with pytest.raises(AwsError) as excinfo:
        parse_rest_json_request(req, operation, labels)
    assert excinfo.value.code == "SerializationException"
    assert excinfo.value.http_status == 400
    assert excinfo.value.message.startswith(message)


def test_bad_query_integer() -> None:
    req = connect_request("GET", f"/users-summary/{INSTANCE}", b"", "maxResults=many")
    operation, labels = match_rest_json_operation(req, CONNECT)
    with pytest.raises(AwsError) as excinfo:
        parse_rest_json_request(req, operation, labels)
    assert excinfo.value.code == "InvalidParameterException"
    assert "Value 'many' at 'maxResults'" in excinfo.value.message


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/aws/nowhere"),
        ("POST", f"/aws/user/federate/{INSTANCE}"),
        ("GET", f"/aws/user/federate/{INSTANCE}/extra"),
        ("GET", "/aws/user/federate/"),
        ("GET", "/elsewhere/instance"),
    ],
)
def test_unknown_operations(method: str, path: str) -> None:
    with pytest.raises(AwsError) as excinfo:
        match_rest_json_operation(AwsHttpRequest(method, path), CONNECT, base_path="/aws")
    assert (excinfo.value.code, excinfo.value.http_status) == ("UnknownOperationException", 404)


def test_unknown_operation_through_a_client(aws: FakeAws) -> None:
    connect = aws.client("connect")
    connect.meta.events.register(
        "before-sign.connect.DescribeInstance",
        lambda request, **_: setattr(request, "url", request.url.replace("/instance/", "/inst/")),
    )
    with pytest.raises(ClientError) as excinfo:
        connect.describe_instance(InstanceId=INSTANCE)
    assert error_of(excinfo)[0::2] == ("UnknownOperationException", 404)


def test_every_connect_operation_routes_to_itself() -> None:
    """Each operation's own URI (labels filled in) must route back to that operation."""
    for name in CONNECT.operation_names:
        operation = CONNECT.operation_model(name)
        template = operation.http["requestUri"]
        path, _, query = template.partition("?")
        for label in operation.input_shape.members if operation.input_shape else {}:
            path = path.replace("{" + label + "}", f"v-{label}").replace(
                "{" + label + "+}", f"a/b-{label}"
            )
        req = AwsHttpRequest(operation.http["method"], path, query)
        matched, labels = match_rest_json_operation(req, CONNECT)
        assert matched.name == name, (name, template)
        assert all(value.startswith(("v-", "a/b-")) for value in labels.values())


# --- routing features Connect's model does not use, checked on other rest-json models --------

CHIME = load_service_model("chime-sdk-meetings")
MEDIASTORE = load_service_model("mediastore-data")


@pytest.mark.parametrize(
    ("method", "path", "query", "operation"),
    [
        ("POST", "/tags", "operation=tag-resource", "TagResource"),
        ("POST", "/tags", "operation=untag-resource", "UntagResource"),
        ("GET", "/tags", "arn=x", "ListTagsForResource"),
        ("POST", "/meetings", "operation=create-attendees", "CreateMeetingWithAttendees"),
        ("POST", "/meetings", "", "CreateMeeting"),
        ("POST", "/meetings/m1/attendees", "operation=batch-create", "BatchCreateAttendee"),
        ("POST", "/meetings/m1/attendees", "", "CreateAttendee"),
    ],
)
def test_query_constrained_routes(method: str, path: str, query: str, operation: str) -> None:
    matched, _labels = match_rest_json_operation(AwsHttpRequest(method, path, query), CHIME)
    assert matched.name == operation


def test_constant_query_with_other_value_does_not_match() -> None:
    with pytest.raises(AwsError):
        match_rest_json_operation(AwsHttpRequest("POST", "/tags", "operation=launch"), CHIME)


def test_greedy_label() -> None:
    req = AwsHttpRequest("GET", "/folder/sub%20dir/video.mp4")
    operation, labels = match_rest_json_operation(req, MEDIASTORE)
    assert operation.name == "GetObject"
    assert labels == {"Path": "folder/sub dir/video.mp4"}


def test_chime_round_trip_with_204() -> None:
    aws = FakeAws(signing_names={"chime": "chime-sdk-meetings"})
    aws.on("chime-sdk-meetings", "TagResource", {})
    aws.on("chime-sdk-meetings", "DeleteMeeting", {})
    chime = aws.client("chime-sdk-meetings")
    tags = [{"Key": "team", "Value": "support"}]
    response = chime.tag_resource(ResourceARN="arn:aws:chime:us-east-1:1:meeting/m", Tags=tags)
    assert aws.last.operation == "TagResource"
    assert aws.last.params == {"ResourceARN": "arn:aws:chime:us-east-1:1:meeting/m", "Tags": tags}
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    chime.delete_meeting(MeetingId=USER_ID)
    assert aws.last.params == {"MeetingId": USER_ID}


def test_headers_payload_and_greedy_labels_round_trip() -> None:
    # PutObject is modeled with an unsigned (streaming) payload
    aws = FakeAws(signing_names={"mediastore": "mediastore-data"}, allow_unsigned_payload=True)
    modified = datetime(2026, 4, 5, 6, 7, 8, tzinfo=UTC)
    aws.on(
        "mediastore-data",
        "DescribeObject",
        {
            "ETag": '"abc"',
            "ContentType": "video/mp4",
            "ContentLength": 1234,
            "CacheControl": "no-cache",
            "LastModified": modified,
        },
    )
    aws.on(
        "mediastore-data",
        "GetObject",
        {"Body": b"\x00\x01binary", "ContentType": "video/mp4", "StatusCode": 206},
    )
    aws.on("mediastore-data", "PutObject", {"ETag": "e", "StorageClass": "TEMPORAL"})
    store = aws.client("mediastore-data")
    head = store.describe_object(Path="folder/sub/clip~1.mp4")
    assert aws.last.request.path == "/aws/folder/sub/clip~1.mp4"
    assert aws.last.params == {"Path": "folder/sub/clip~1.mp4"}
    assert without_metadata(head) == {
        "ETag": '"abc"',
        "ContentType": "video/mp4",
        "ContentLength": 1234,
        "CacheControl": "no-cache",
        "LastModified": modified,
    }
    got = store.get_object(Path="folder/clip.mp4", Range="bytes=0-7")
    assert aws.last.params == {"Path": "folder/clip.mp4", "Range": "bytes=0-7"}
    assert got["Body"].read() == b"\x00\x01binary"
    assert got["StatusCode"] == 206
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    put = store.put_object(Path="a/b.bin", Body=b"\xff\xfe", ContentType="application/octet-stream")
    assert aws.last.params == {
        "Path": "a/b.bin",
        "Body": b"\xff\xfe",
        "ContentType": "application/octet-stream",
    }
    assert without_metadata(put) == {"ETag": "e", "StorageClass": "TEMPORAL"}


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        ({"User": {**USER, "Shoe": 1}}, r"\['Shoe'\] not in shape User"),
        ({"User": {**USER, "SecurityProfileIds": "p"}}, "User.SecurityProfileIds"),
        ({"User": {**USER, "LastModifiedTime": "yesterday"}}, "User.LastModifiedTime"),
        ({"User": {**USER, "Tags": ["a"]}}, "User.Tags"),
    ],
)
def test_results_that_do_not_fit_the_model_are_bugs(result: dict[str, Any], problem: str) -> None:
    with pytest.raises(ResultShapeError, match=problem):
        serialize_rest_json_response(
            CONNECT.operation_model("DescribeUser"), result, request_id="r"
        )


def test_huge_values_are_not_run_through_patterns() -> None:
    """InstanceAlias's pattern backtracks quadratically; a huge alias must not stall."""
    body = json.dumps(
        {
            "IdentityManagementType": "SAML",
            "InboundCallsEnabled": True,
            "OutboundCallsEnabled": True,
            "InstanceAlias": "a" * 200_000 + "!",
        }
    ).encode()
    req = connect_request("PUT", "/instance", body)
    operation, labels = match_rest_json_operation(req, CONNECT)
    with pytest.raises(AwsError) as excinfo:
        parse_rest_json_request(req, operation, labels)
    assert excinfo.value.message.endswith("Member must have length less than or equal to 45")
