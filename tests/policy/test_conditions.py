"""Condition operators, table by table, from the IAM User Guide's own examples.

Each case quotes the example it comes from ("IAM JSON policy elements: Condition operators",
"Creating a condition with multiple keys or values", "IAM policy elements: Variables and
tags"); the request values are what the surrounding text says the example should do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.policy.helpers import condition_holds

Case = tuple[dict[str, Any], dict[str, Any], bool]

# --- String condition operators ---------------------------------------------------------
# Example: "Condition": {"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}}
# "If a user without the tag attempts to view or edit an access key, the condition returns
# false".
JOB = {"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}}
# Example: "Condition": {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/"]}}
# ("The policy allows the specified actions ... as long as the s3:prefix matches any one of
# the specified patterns").
HOME = {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/"]}}
STRING_CASES: list[Case] = [
    (JOB, {"aws:PrincipalTag/job-category": "iamuser-admin"}, True),
    (JOB, {"aws:PrincipalTag/job-category": "IAMUSER-ADMIN"}, False),  # "case sensitive"
    (JOB, {}, False),  # the user without the tag
    (JOB, {"AWS:PrincipalTag/JOB-CATEGORY": "iamuser-admin"}, True),  # keys case-insensitive
    ({"StringNotEquals": JOB["StringEquals"]}, {"aws:PrincipalTag/job-category": "x"}, True),
    ({"StringNotEquals": JOB["StringEquals"]}, {}, True),  # negated: absent key is true
    (
        {"StringEqualsIgnoreCase": JOB["StringEquals"]},
        {"aws:PrincipalTag/job-category": "IAMUser-Admin"},
        True,
    ),
    (
        {"StringNotEqualsIgnoreCase": JOB["StringEquals"]},
        {"aws:PrincipalTag/job-category": "IAMUser-Admin"},
        False,
    ),
    (HOME, {"s3:prefix": "", "aws:username": "alice"}, True),
    (HOME, {"s3:prefix": "home/", "aws:username": "alice"}, True),
    (HOME, {"s3:prefix": "home/alice/", "aws:username": "alice"}, True),
    (HOME, {"s3:prefix": "home/bob/", "aws:username": "alice"}, False),
    # StringLike: "multi-character match wildcards (*) and single-character match wildcards
    # (?) anywhere in the string"; case-sensitive.
    ({"StringLike": {"s3:prefix": "home/*"}}, {"s3:prefix": "home/alice/x"}, True),
    ({"StringLike": {"s3:prefix": "home/?"}}, {"s3:prefix": "home/ab"}, False),
    ({"StringLike": {"s3:prefix": "Home/*"}}, {"s3:prefix": "home/a"}, False),
    ({"StringNotLike": {"s3:prefix": "home/*"}}, {"s3:prefix": "tmp/x"}, True),
    ({"StringNotLike": {"s3:prefix": "home/*"}}, {}, True),
]


@pytest.mark.parametrize(("condition", "context", "expected"), STRING_CASES)
def test_string_operators(
    condition: dict[str, Any], context: dict[str, Any], expected: bool
) -> None:
    assert condition_holds(condition, context) is expected


# --- Numeric condition operators --------------------------------------------------------
# Example: "Condition": {"NumericLessThanEquals": {"s3:max-keys": "10"}} ("the requester can
# list up to 10 objects").
MAX_KEYS = {"NumericLessThanEquals": {"s3:max-keys": "10"}}
NUMERIC_CASES: list[Case] = [
    (MAX_KEYS, {"s3:max-keys": "10"}, True),
    (MAX_KEYS, {"s3:max-keys": 9}, True),
    (MAX_KEYS, {"s3:max-keys": "11"}, False),
    (MAX_KEYS, {"s3:max-keys": "ten"}, False),  # not a number: no match
    (MAX_KEYS, {}, False),
    ({"NumericEquals": {"s3:max-keys": 10}}, {"s3:max-keys": "10.0"}, True),
    ({"NumericNotEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "11"}, True),
    ({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"}, False),
    ({"NumericGreaterThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "10.5"}, True),
    ({"NumericGreaterThanEquals": {"s3:max-keys": "2.5"}}, {"s3:max-keys": 2.5}, True),
]


@pytest.mark.parametrize(("condition", "context", "expected"), NUMERIC_CASES)
def test_numeric_operators(
    condition: dict[str, Any], context: dict[str, Any], expected: bool
) -> None:
    assert condition_holds(condition, context) is expected


# --- Date condition operators -----------------------------------------------------------
# Example: "Condition": {"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}}
# ("the temporary security credentials used to make the request were issued in 2020");
# "You must specify date/time values with one of the W3C implementations of the ISO 8601
# date formats or in epoch (UNIX) time."
ISSUED = {"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}}
DATE_CASES: list[Case] = [
    (ISSUED, {"aws:TokenIssueTime": "2020-06-01T00:00:00Z"}, True),
    (ISSUED, {"aws:TokenIssueTime": datetime(2019, 12, 31, tzinfo=UTC)}, False),
    (ISSUED, {"aws:TokenIssueTime": 1577836802}, True),  # epoch seconds
    (ISSUED, {}, False),  # "The key is not present in ... requests ... made using access keys"
    (ISSUED, {"aws:TokenIssueTime": "not a date"}, False),
    ({"DateLessThan": {"aws:CurrentTime": "2026-12-01"}}, {"aws:CurrentTime": "2026-11-27"}, True),
    ({"DateEquals": {"aws:EpochTime": "1700000000"}}, {"aws:EpochTime": 1700000000}, True),
    (
        {"DateEquals": {"aws:CurrentTime": "2023-11-14T22:13:20Z"}},
        {"aws:CurrentTime": "2023-11-15T07:13:20+09:00"},
        True,
    ),
    ({"DateNotEquals": {"aws:CurrentTime": "2020-01-01"}}, {"aws:CurrentTime": "2021-01-01"}, True),
    (
        {"DateLessThanEquals": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
        {"aws:CurrentTime": "2020-01-01T00:00:00Z"},
        True,
    ),
    (
        {"DateGreaterThanEquals": {"aws:CurrentTime": 1577836800}},
        {"aws:CurrentTime": datetime(2019, 1, 1)},  # a naive time is UTC
        False,
    ),
]


@pytest.mark.parametrize(("condition", "context", "expected"), DATE_CASES)
def test_date_operators(condition: dict[str, Any], context: dict[str, Any], expected: bool) -> None:
    assert condition_holds(condition, context) is expected


def test_current_time_and_epoch_time_are_derived_from_each_other() -> None:
    # AWS sends both keys; a context given one answers conditions on the other.
    when = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    later = {"DateLessThan": {"aws:EpochTime": str(int(when.timestamp()) + 1)}}
    assert condition_holds(later, {"aws:CurrentTime": when})
    assert condition_holds(
        {"DateEquals": {"aws:CurrentTime": "2026-11-27T09:00:00Z"}},
        {"aws:EpochTime": int(when.timestamp())},
    )


# --- Boolean, binary, IP address --------------------------------------------------------
# Example: "Condition": {"Bool": {"aws:SecureTransport": "false"}} (deny "if the request is
# not over SSL").
INSECURE = {"Bool": {"aws:SecureTransport": "false"}}
# Example: "Condition": {"BinaryEquals": {"key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}} (the guide's
# placeholder key "key" is given a vendor prefix here).
BINARY = {"BinaryEquals": {"s3:key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}
# Example: "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}} ("the request must
# come from the IP range 203.0.113.0 to 203.0.113.255"); and the mixed example
# "aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64"].
OFFICE = {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}
MIXED = {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]}}
OTHER_CASES: list[Case] = [
    (INSECURE, {"aws:SecureTransport": False}, True),
    (INSECURE, {"aws:SecureTransport": "FALSE"}, True),
    (INSECURE, {"aws:SecureTransport": True}, False),
    (INSECURE, {"aws:SecureTransport": "yes"}, False),
    ({"Bool": {"aws:MultiFactorAuthPresent": True}}, {"aws:MultiFactorAuthPresent": "true"}, True),
    (BINARY, {"s3:key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}, True),
    (BINARY, {"s3:key": "QmluYXJ5"}, False),
    (BINARY, {"s3:key": "***"}, False),
    (OFFICE, {"aws:SourceIp": "203.0.113.0"}, True),
    (OFFICE, {"aws:SourceIp": "203.0.113.255"}, True),
    (OFFICE, {"aws:SourceIp": "203.0.114.0"}, False),
    # "The aws:SourceIp key is always present ... except when the requester uses a VPC
    # endpoint ... In this case, the condition returns false".
    (OFFICE, {}, False),
    (OFFICE, {"aws:SourceIp": "not-an-ip"}, False),
    (MIXED, {"aws:SourceIp": "2001:db8:1234:5678::1"}, True),
    (MIXED, {"aws:SourceIp": "2001:db8:1234:5679::1"}, False),
    (MIXED, {"aws:SourceIp": "203.0.113.7"}, True),
    # "If you specify an IP address without the associated routing prefix, IAM uses the
    # default prefix value of /32."
    ({"IpAddress": {"aws:SourceIp": "203.0.113.7"}}, {"aws:SourceIp": "203.0.113.7"}, True),
    ({"IpAddress": {"aws:SourceIp": "203.0.113.7"}}, {"aws:SourceIp": "203.0.113.8"}, False),
    ({"NotIpAddress": OFFICE["IpAddress"]}, {"aws:SourceIp": "192.0.2.1"}, True),
    ({"NotIpAddress": OFFICE["IpAddress"]}, {"aws:SourceIp": "203.0.113.1"}, False),
    ({"NotIpAddress": OFFICE["IpAddress"]}, {}, True),
]


@pytest.mark.parametrize(("condition", "context", "expected"), OTHER_CASES)
def test_bool_binary_and_ip_operators(
    condition: dict[str, Any], context: dict[str, Any], expected: bool
) -> None:
    assert condition_holds(condition, context) is expected


# --- ARN condition operators ------------------------------------------------------------
# Example: "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:REGION:123456789012:
# TOPIC-ID"}}; and: pattern arn:aws:someservice:*:111122223333:finance/* against
# arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt:
# "With a StringLike condition, the match succeeds ... With an ArnLike condition, which
# matches elements between colons, the match fails."
TOPIC = "arn:aws:sns:REGION:123456789012:TOPIC-ID"
PATTERN = "arn:aws:someservice:*:111122223333:finance/*"
TRICKY = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
ARN_CASES: list[Case] = [
    ({"ArnEquals": {"aws:SourceArn": TOPIC}}, {"aws:SourceArn": TOPIC}, True),
    ({"ArnEquals": {"aws:SourceArn": TOPIC}}, {}, False),
    ({"ArnLike": {"aws:SourceArn": PATTERN}}, {"aws:SourceArn": TRICKY}, False),
    ({"StringLike": {"aws:SourceArn": PATTERN}}, {"aws:SourceArn": TRICKY}, True),
    (
        {"ArnLike": {"aws:SourceArn": PATTERN}},
        {"aws:SourceArn": "arn:aws:someservice:us-east-2:111122223333:finance/a:b"},
        True,
    ),
    ({"ArnNotEquals": {"aws:SourceArn": TOPIC}}, {"aws:SourceArn": TOPIC}, False),
    ({"ArnNotLike": {"aws:SourceArn": PATTERN}}, {"aws:SourceArn": TRICKY}, True),
    ({"ArnNotLike": {"aws:SourceArn": PATTERN}}, {}, True),
]


@pytest.mark.parametrize(("condition", "context", "expected"), ARN_CASES)
def test_arn_operators(condition: dict[str, Any], context: dict[str, Any], expected: bool) -> None:
    assert condition_holds(condition, context) is expected


# --- IfExists and Null ------------------------------------------------------------------
# Example: "StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]} ("If the
# resource being checked does not have that condition key, then don't worry about it").
INSTANCE_TYPES = {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}}
# Example: "Condition":{"Null":{"aws:TokenIssueTime":"true"}} ("the user must not be using
# temporary credentials (the key must not exist)").
NO_TOKEN = {"Null": {"aws:TokenIssueTime": "true"}}
PRESENCE_CASES: list[Case] = [
    (INSTANCE_TYPES, {}, True),
    (INSTANCE_TYPES, {"ec2:InstanceType": "t2.micro"}, True),
    (INSTANCE_TYPES, {"ec2:InstanceType": "c5.large"}, False),
    ({"StringLike": INSTANCE_TYPES["StringLikeIfExists"]}, {}, False),  # "THISPOLICYDOESNOTWORK"
    ({"NumericLessThanIfExists": {"s3:max-keys": "10"}}, {}, True),
    ({"IpAddressIfExists": {"aws:SourceIp": "203.0.113.0/24"}}, {}, True),
    ({"StringNotEqualsIfExists": {"aws:PrincipalTag/x": "a"}}, {"aws:PrincipalTag/x": "a"}, False),
    (NO_TOKEN, {}, True),
    (NO_TOKEN, {"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}, False),
    ({"Null": {"aws:TokenIssueTime": "false"}}, {"aws:TokenIssueTime": "2020-01-01"}, True),
    ({"Null": {"aws:TokenIssueTime": False}}, {}, False),
    ({"Null": {"aws:TagKeys": "true"}}, {"aws:TagKeys": []}, True),  # empty reads as absent
]


@pytest.mark.parametrize(("condition", "context", "expected"), PRESENCE_CASES)
def test_if_exists_and_null(
    condition: dict[str, Any], context: dict[str, Any], expected: bool
) -> None:
    assert condition_holds(condition, context) is expected


# --- Set operators and multiple keys / values -------------------------------------------
# Example: "ForAllValues:StringLike": {"dynamodb:requestedAttributes": ["PostDateTime",
# "Message", "Tags"]} ("If the user makes a request ... to get the attributes PostDateTime
# and Message ... the request is allowed ... if the user's request includes the ID attribute,
# the request fails").
ONLY_SOME = {
    "ForAllValues:StringLike": {"dynamodb:requestedAttributes": ["PostDateTime", "Message", "Tags"]}
}
# Example: "ForAnyValue:StringLike": {"dynamodb:requestedAttributes": ["ID", "PostDateTime"]}
# ("there is one match (PostDateTime), so the condition is true ... just the UserName
# attribute ... The condition returns false").
ANY_OF = {"ForAnyValue:StringLike": {"dynamodb:requestedAttributes": ["ID", "PostDateTime"]}}
ATTRS = "dynamodb:requestedAttributes"
SET_CASES: list[Case] = [
    (ONLY_SOME, {ATTRS: ["PostDateTime", "Message"]}, True),
    (ONLY_SOME, {ATTRS: ["PostDateTime", "ID"]}, False),
    # "If the key values in the request resolve to an empty data set ... ForAllValues
    # returns true, and ... ForAnyValue returns false."
    (ONLY_SOME, {ATTRS: []}, True),
    (ONLY_SOME, {}, True),
    (ANY_OF, {ATTRS: ["UserName", "Message", "PostDateTime"]}, True),
    (ANY_OF, {ATTRS: ["UserName"]}, False),
    (ANY_OF, {ATTRS: []}, False),
    (ANY_OF, {}, False),
    ({"ForAnyValue:StringLikeIfExists": ANY_OF["ForAnyValue:StringLike"]}, {}, True),
    # Negated with set operators: each request value must (any: may) match none.
    ({"ForAllValues:StringNotEquals": {ATTRS: ["ID"]}}, {ATTRS: ["Message", "Tags"]}, True),
    ({"ForAllValues:StringNotEquals": {ATTRS: ["ID"]}}, {ATTRS: ["Message", "ID"]}, False),
    ({"ForAnyValue:StringNotEquals": {ATTRS: ["ID"]}}, {ATTRS: ["Message", "ID"]}, True),
    ({"ForAnyValue:StringNotEquals": {ATTRS: ["ID"]}}, {ATTRS: ["ID"]}, False),
    # A multivalued key without a set operator: any value matching satisfies it.
    (
        {"StringEquals": {"sekisho:Groups": "agents"}},
        {"sekisho:Groups": ["admins", "agents"]},
        True,
    ),
    ({"StringNotEquals": {"sekisho:Groups": "agents"}}, {"sekisho:Groups": ["agents"]}, False),
]


@pytest.mark.parametrize(("condition", "context", "expected"), SET_CASES)
def test_set_operators(condition: dict[str, Any], context: dict[str, Any], expected: bool) -> None:
    assert condition_holds(condition, context) is expected


# "If your policy statement has multiple condition operators, the condition operators are
# evaluated using a logical AND. ... multiple context keys attached to a single condition
# operator ... AND. ... multiple values for a context key ... OR. ... a single negated
# matching condition operator includes multiple values ... NOR."
LOGIC_CASES: list[Case] = [
    (
        {"StringEquals": {"aws:PrincipalTag/team": "a", "aws:username": "alice"}},
        {"aws:PrincipalTag/team": "a", "aws:username": "alice"},
        True,
    ),
    (
        {"StringEquals": {"aws:PrincipalTag/team": "a", "aws:username": "alice"}},
        {"aws:PrincipalTag/team": "a", "aws:username": "bob"},
        False,
    ),
    (
        {"StringEquals": {"aws:username": "alice"}, "Bool": {"aws:SecureTransport": "true"}},
        {"aws:username": "alice", "aws:SecureTransport": False},
        False,
    ),
    ({"StringEquals": {"aws:username": ["alice", "bob"]}}, {"aws:username": "bob"}, True),
    ({"StringNotEquals": {"aws:username": ["alice", "bob"]}}, {"aws:username": "bob"}, False),
    ({"StringNotEquals": {"aws:username": ["alice", "bob"]}}, {"aws:username": "carol"}, True),
]


@pytest.mark.parametrize(("condition", "context", "expected"), LOGIC_CASES)
def test_keys_and_values_combine(
    condition: dict[str, Any], context: dict[str, Any], expected: bool
) -> None:
    assert condition_holds(condition, context) is expected


# --- Policy variables in conditions -----------------------------------------------------
# Example (Variables and tags, "Policy variables with no value"): "StringNotEquals":
# {"s3:ExistingObjectTag/Team": "${aws:PrincipalTag/Team}"} with Effect Deny: "Access is
# explicitly denied when aws:principaltag/Team is not set"; "condition operators like
# StringEquals or StringLike do not match ... Inverted condition operators like
# StringNotEquals or StringNotLike do match against a null value".
TEAM_TAG = {"s3:ExistingObjectTag/Team": "${aws:PrincipalTag/Team}"}
VARIABLE_CASES: list[Case] = [
    ({"StringNotEquals": TEAM_TAG}, {"s3:ExistingObjectTag/Team": "red"}, True),
    (
        {"StringNotEquals": TEAM_TAG},
        {"s3:ExistingObjectTag/Team": "red", "aws:PrincipalTag/Team": "red"},
        False,
    ),
    ({"StringEquals": TEAM_TAG}, {"s3:ExistingObjectTag/Team": "red"}, False),
    ({"StringLike": TEAM_TAG}, {"s3:ExistingObjectTag/Team": "${aws:PrincipalTag/Team}"}, False),
    ({"StringNotLike": TEAM_TAG}, {"s3:ExistingObjectTag/Team": "red"}, True),
    # Defaults: "${aws:PrincipalTag/team, 'company-wide'}".
    (
        {"StringEquals": {"s3:prefix": "${aws:PrincipalTag/team, 'company-wide'}"}},
        {"s3:prefix": "company-wide"},
        True,
    ),
    # A substituted value's * is literal; ${*} stands for a literal *.
    (
        {"StringLike": {"s3:prefix": "${aws:username}/*"}},
        {"s3:prefix": "a*/x", "aws:username": "a*"},
        True,
    ),
    (
        {"StringLike": {"s3:prefix": "${aws:username}/*"}},
        {"s3:prefix": "ab/x", "aws:username": "a*"},
        False,
    ),
    ({"StringLike": {"s3:prefix": "star-${*}"}}, {"s3:prefix": "star-*"}, True),
    ({"StringLike": {"s3:prefix": "star-${*}"}}, {"s3:prefix": "star-x"}, False),
    # A multivalued key cannot be a variable: it has no value.
    (
        {"StringEquals": {"s3:prefix": "${sekisho:Groups}"}},
        {"s3:prefix": "a", "sekisho:Groups": ["a"]},
        False,
    ),
    # ArnLike takes variables too.
    (
        {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:123456789012:${aws:username}-*"}},
        {
            "aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:alice-topic",
            "aws:username": "alice",
        },
        True,
    ),
]


@pytest.mark.parametrize(("condition", "context", "expected"), VARIABLE_CASES)
def test_variables_in_conditions(
    condition: dict[str, Any], context: dict[str, Any], expected: bool
) -> None:
    assert condition_holds(condition, context) is expected


def test_variables_are_literal_without_version_2012() -> None:
    # "If you don't include the Version element ..., variables like ${aws:username} are
    # treated as literal strings in the policy."
    condition = {"StringEquals": {"s3:prefix": "${aws:username}"}}
    context = {"s3:prefix": "${aws:username}", "aws:username": "alice"}
    assert condition_holds(condition, context, version=None)
    assert condition_holds(condition, context, version="2008-10-17")
    assert not condition_holds(condition, context)
