"""Properties: whatever botocore writes, the emulator reads back, and the other way round."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sekisho.emulator.protocol.query import parse_query_request, serialize_query_response
from sekisho.emulator.protocol.restjson import (
    match_rest_json_operation,
    parse_rest_json_request,
    serialize_rest_json_response,
)
from sekisho.emulator.protocol.shapes import load_service_model
from tests.emulator.harness import BASE_PATH, botocore_parse, botocore_request

IAM = load_service_model("iam")
CONNECT = load_service_model("connect")
SETTINGS = settings(max_examples=75, deadline=None)


# --- strategies shaped by the models' constraints -------------------------------------------

iam_names = st.from_regex(r"[A-Za-z0-9_+=,.@-]{1,64}", fullmatch=True)
iam_paths = st.lists(st.from_regex(r"[A-Za-z0-9.,+@=_-]{1,12}", fullmatch=True), max_size=4).map(
    lambda parts: "/" + "".join(f"{part}/" for part in parts)
)
# No member takes C0 controls but TAB/LF/CR, DEL, lone surrogates or U+FFFE/U+FFFF (issue
# 9: the emulator refuses them whatever the model's pattern, see shapes.validate_input).
latin1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
policy_documents = st.text(alphabet=latin1 | st.sampled_from("\t\n\r"), min_size=1, max_size=200)
tag_text = st.characters(categories=("L", "Z", "N")) | st.sampled_from("_.:/=+-@")
tags = st.lists(
    st.fixed_dictionaries(
        {
            "Key": st.text(alphabet=tag_text, min_size=1, max_size=128),
            "Value": st.text(alphabet=tag_text, max_size=256),
        }
    ),
    max_size=6,
)
acceptable = st.characters(
    exclude_categories=("Cs",),
    exclude_characters="".join(map(chr, [*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)]))
    + "\x7f\ufffe\uffff",
)
any_text = st.text(alphabet=acceptable, max_size=40)
xml_text = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff")
    | st.sampled_from("\t\n\r"),
    max_size=40,
)
millisecond_times = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
).map(lambda value: value.replace(microsecond=value.microsecond // 1000 * 1000))


@SETTINGS
@given(
    st.fixed_dictionaries(
        {"PolicyName": iam_names, "PolicyDocument": policy_documents},
        optional={"Path": iam_paths, "Description": any_text, "Tags": tags},
    )
)
def test_iam_create_policy_parameters(params: dict[str, Any]) -> None:
    operation, parsed = parse_query_request(botocore_request(IAM, "CreatePolicy", params), IAM)
    assert operation.name == "CreatePolicy"
    assert parsed == params


@SETTINGS
@given(
    st.fixed_dictionaries(
        {"RoleName": iam_names, "Tags": tags.filter(bool)},
    )
)
def test_iam_tag_role_parameters(params: dict[str, Any]) -> None:
    assert parse_query_request(botocore_request(IAM, "TagRole", params), IAM)[1] == params


@SETTINGS
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "Scope": st.sampled_from(["All", "AWS", "Local"]),
            "OnlyAttached": st.booleans(),
            "PathPrefix": iam_paths,
            "PolicyUsageFilter": st.sampled_from(["PermissionsPolicy", "PermissionsBoundary"]),
            "Marker": st.text(alphabet=latin1, min_size=1, max_size=320),
            "MaxItems": st.integers(min_value=1, max_value=1000),
        },
    )
)
def test_iam_list_policies_parameters(params: dict[str, Any]) -> None:
    assert parse_query_request(botocore_request(IAM, "ListPolicies", params), IAM)[1] == params


roles = st.fixed_dictionaries(
    {
        "Path": iam_paths,
        "RoleName": iam_names,
        "RoleId": st.from_regex(r"AROA[A-Z0-9]{17}", fullmatch=True),
        "Arn": xml_text,
        "CreateDate": millisecond_times,
    },
    optional={
        "Description": xml_text,
        "MaxSessionDuration": st.integers(min_value=3600, max_value=43200),
        "Tags": st.lists(st.fixed_dictionaries({"Key": xml_text, "Value": xml_text}), max_size=3),
        "RoleLastUsed": st.fixed_dictionaries(
            {}, optional={"LastUsedDate": millisecond_times, "Region": xml_text}
        ),
    },
)


@SETTINGS
@given(
    st.fixed_dictionaries(
        {"Roles": st.lists(roles, max_size=3), "IsTruncated": st.booleans()},
        optional={"Marker": xml_text},
    )
)
def test_iam_list_roles_results(result: dict[str, Any]) -> None:
    response = serialize_query_response(IAM.operation_model("ListRoles"), result, request_id="r")
    assert botocore_parse(IAM, "ListRoles", response) == result


connect_tag_keys = st.text(alphabet=tag_text, min_size=1, max_size=128).filter(
    lambda key: not key.startswith("aws:")
)
connect_users = st.fixed_dictionaries(
    {
        "InstanceId": st.text(alphabet=acceptable, min_size=1, max_size=100),
        "Username": st.text(alphabet=acceptable, min_size=1, max_size=100),
        "SecurityProfileIds": st.lists(any_text, min_size=1, max_size=10),
        "RoutingProfileId": any_text,
    },
    optional={
        "Password": any_text,
        "IdentityInfo": st.fixed_dictionaries(
            {}, optional={"FirstName": any_text, "LastName": any_text}
        ),
        "PhoneConfig": st.fixed_dictionaries(
            {},
            optional={
                "PhoneType": st.sampled_from(["SOFT_PHONE", "DESK_PHONE"]),
                "AutoAccept": st.booleans(),
                "AfterContactWorkTimeLimit": st.integers(min_value=0, max_value=2**31 - 1),
            },
        ),
        "Tags": st.dictionaries(
            connect_tag_keys, st.text(alphabet=acceptable, max_size=256), min_size=1, max_size=5
        ),
    },
)


@SETTINGS
@given(connect_users)
def test_connect_create_user_parameters(params: dict[str, Any]) -> None:
    req = botocore_request(CONNECT, "CreateUser", params)
    operation, labels = match_rest_json_operation(req, CONNECT, base_path=BASE_PATH)
    assert operation.name == "CreateUser"
    assert parse_rest_json_request(req, operation, labels) == params


@SETTINGS
@given(
    st.fixed_dictionaries(
        {"InstanceId": st.text(alphabet=acceptable, min_size=1, max_size=100)},
        optional={
            "NextToken": any_text,
            "MaxResults": st.integers(min_value=1, max_value=1000),
        },
    )
)
def test_connect_list_users_parameters(params: dict[str, Any]) -> None:
    req = botocore_request(CONNECT, "ListUsers", params)
    operation, labels = match_rest_json_operation(req, CONNECT, base_path=BASE_PATH)
    assert operation.name == "ListUsers"
    assert parse_rest_json_request(req, operation, labels) == params


@SETTINGS
@given(
    connect_users.map(
        lambda user: {
            key: value for key, value in user.items() if key not in ("InstanceId", "Password")
        }
    ),
    millisecond_times,
)
def test_connect_describe_user_results(user: dict[str, Any], modified: datetime) -> None:
    result = {"User": {**user, "LastModifiedTime": modified}}
    response = serialize_rest_json_response(
        CONNECT.operation_model("DescribeUser"), result, request_id="r"
    )
    assert json.loads(response.body)["User"]["LastModifiedTime"] == modified.timestamp()
    assert botocore_parse(CONNECT, "DescribeUser", response) == result


def test_timestamps_survive_both_epoch_and_iso_forms() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    for delta in (timedelta(0), timedelta(milliseconds=1), timedelta(days=-20000)):
        result = {"User": {"LastModifiedTime": moment + delta}}
        response = serialize_rest_json_response(
            CONNECT.operation_model("DescribeUser"), result, request_id="r"
        )
        assert botocore_parse(CONNECT, "DescribeUser", response) == result
