"""parse_policy: every validation error kind, with its JSON path and message."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sekisho.policy import PolicyError, PolicyKind, Problem, parse_policy

ALLOW = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/*"}


def problems(source: Any, kind: PolicyKind = PolicyKind.IDENTITY) -> list[Problem]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(source, kind=kind)
    assert caught.value.code == "policy_invalid"
    return list(caught.value.problems)


def one(source: Any, kind: PolicyKind = PolicyKind.IDENTITY) -> Problem:
    found = problems(source, kind)
    assert len(found) == 1, found
    return found[0]


def doc(*statements: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", **top, "Statement": list(statements)}


def test_a_valid_policy_compiles_with_its_parts() -> None:
    text = json.dumps(doc({**ALLOW, "Sid": "ReadBucket"}))
    policy = parse_policy(text, name="read")
    assert policy.name == "read"
    assert policy.kind is PolicyKind.IDENTITY
    assert policy.version == "2012-10-17"
    assert policy.size == len("".join(text.split()))
    (statement,) = policy.statements
    assert (statement.sid, statement.index, statement.effect) == ("ReadBucket", 0, "Allow")
    assert statement.action is not None and statement.action[0].text == "s3:GetObject"
    assert statement.resource is not None and statement.resource[0].text == ALLOW["Resource"]
    assert parse_policy(text.encode(), name="read") == policy


def test_statement_may_be_a_single_object_and_strings_may_be_lists() -> None:
    policy = parse_policy({"Version": "2012-10-17", "Statement": ALLOW})
    assert len(policy.statements) == 1
    listed = parse_policy(doc({**ALLOW, "Action": ["s3:GetObject", "s3:List*"]}))
    assert listed.statements[0].action is not None and len(listed.statements[0].action) == 2


def test_unknown_elements_are_named_with_a_hint() -> None:
    found = problems(doc({**ALLOW, "effect": "Allow"}, Statment=[]))
    assert (
        Problem(
            "$.Statment",
            "expected only Version, Id and Statement at the top level, "
            "got unknown element 'Statment'; did you mean Statement?",
        )
        in found
    )
    assert any(
        p.path == "$.Statement[0].effect"
        and "unknown element 'effect'; did you mean Effect?" in p.message
        for p in found
    )


def test_bad_effect() -> None:
    assert one(doc({**ALLOW, "Effect": "allow"})) == Problem(
        "$.Statement[0].Effect", 'expected Effect "Allow" or "Deny", got \'allow\''
    )
    missing = {k: v for k, v in ALLOW.items() if k != "Effect"}
    assert one(doc(missing)).message == 'expected Effect "Allow" or "Deny", got none'


def test_action_with_not_action_and_resource_with_not_resource() -> None:
    found = problems(doc({**ALLOW, "NotAction": "s3:Put*", "NotResource": "*"}))
    assert (
        Problem("$.Statement[0]", "expected Action or NotAction, not both, in one statement")
        in found
    )
    assert (
        Problem("$.Statement[0]", "expected Resource or NotResource, not both, in one statement")
        in found
    )


def test_missing_action_and_resource() -> None:
    found = problems(doc({"Effect": "Allow"}))
    assert (
        Problem("$.Statement[0]", "expected Action or NotAction in the statement, got neither")
        in found
    )
    assert (
        Problem("$.Statement[0]", "expected Resource or NotResource in the statement, got neither")
        in found
    )
    # Resource-based policies may leave the resource implicit (the guide's SNS topic policy).
    sns = doc({"Effect": "Allow", "Principal": {"AWS": "999999999999"}, "Action": "sns:*"})
    assert parse_policy(sns, kind=PolicyKind.RESOURCE).statements[0].resource is None


def test_malformed_action_and_resource_entries() -> None:
    found = problems(doc({**ALLOW, "Action": ["s3", 7], "Resource": ["bucket", []]}))
    paths = {p.path for p in found}
    assert paths == {
        "$.Statement[0].Action[0]",
        "$.Statement[0].Action[1]",
        "$.Statement[0].Resource[0]",
        "$.Statement[0].Resource[1]",
    }
    assert any('expected "*" or service:action' in p.message and "'s3'" in p.message for p in found)
    assert any('expected "*" or an ARN' in p.message and "'bucket'" in p.message for p in found)
    vendor = one(doc({**ALLOW, "Action": "*:Untag*"}))
    assert vendor.message == (
        'expected "*" or service:action such as s3:GetObject or ec2:Describe* (no wildcard '
        "in the service prefix), got '*:Untag*'"
    )
    empty = one(doc({**ALLOW, "Action": []}))
    assert empty == Problem(
        "$.Statement[0].Action",
        "expected Action as a string or a non-empty array of strings, got an empty array",
    )


def test_incomplete_arns_are_completed_only_in_identity_based_policies() -> None:
    # "session policies passed to AWS STS AssumeRole, AssumeRoleWithWebIdentity, and
    # AssumeRoleWithSAML requests, do not support incomplete ARNs."
    short = doc({**ALLOW, "Resource": "arn:aws:sqs"})
    (pattern,) = parse_policy(short).statements[0].resource or ()
    assert (pattern.text, pattern.template.text) == ("arn:aws:sqs", "arn:aws:sqs:*:*:*")
    assert one(short, PolicyKind.SESSION) == Problem(
        "$.Statement[0].Resource",
        "expected a complete ARN with six fields (arn:partition:service:region:account:"
        "resource) in a session policy, got 'arn:aws:sqs'",
    )
    assert one(short, PolicyKind.SCP).path == "$.Statement[0].Resource"


def test_unknown_condition_operator() -> None:
    bad = doc({**ALLOW, "Condition": {"StringEqual": {"aws:username": "a"}}})
    assert one(bad) == Problem(
        "$.Statement[0].Condition.StringEqual",
        "expected a condition operator such as StringEquals, got 'StringEqual'; "
        "did you mean StringEquals?",
    )
    null_if_exists = doc({**ALLOW, "Condition": {"NullIfExists": {"aws:username": "true"}}})
    assert "IfExists applies to every operator but Null" in one(null_if_exists).message
    set_null = doc({**ALLOW, "Condition": {"ForAnyValue:Null": {"aws:username": "true"}}})
    assert "without ForAnyValue:" in one(set_null).message


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("IpAddress", "203.0.113.0/33", "expected an IPv4 or IPv6 address or CIDR block"),
        ("NotIpAddress", "203.0.113.0/255.255.255.0", "expected an IPv4 or IPv6 address"),
        ("DateLessThan", "2020-13-01T00:00:00Z", "expected an ISO 8601 date"),
        ("DateEquals", "yesterday", "expected an ISO 8601 date"),
        ("NumericEquals", "ten", "expected a number such as 10 or 2.5"),
        ("Bool", "yes", "expected true or false"),
        ("Null", "maybe", "expected true or false"),
        ("BinaryEquals", "not base64!", "expected base64"),
    ],
)
def test_malformed_values_for_their_operator(operator: str, value: str, expected: str) -> None:
    problem = one(doc({**ALLOW, "Condition": {operator: {"aws:SourceIp": value}}}))
    assert problem.path == f"$.Statement[0].Condition.{operator}['aws:SourceIp']"
    assert problem.message.startswith(expected)
    assert repr(value) in problem.message


def test_every_bad_value_of_a_list_is_reported_by_index() -> None:
    bad = doc({**ALLOW, "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "x", "y"]}}})
    assert [p.path for p in problems(bad)] == [
        "$.Statement[0].Condition.IpAddress['aws:SourceIp'][1]",
        "$.Statement[0].Condition.IpAddress['aws:SourceIp'][2]",
    ]


def test_condition_values_must_be_scalars_and_keys_prefixed() -> None:
    found = problems(
        doc({**ALLOW, "Condition": {"StringEquals": {"aws:username": None, "username": "a"}}})
    )
    assert (
        Problem(
            "$.Statement[0].Condition.StringEquals['aws:username']",
            "expected a string, number or boolean condition value, got null",
        )
        in found
    )
    assert any(p.path == "$.Statement[0].Condition.StringEquals.username" for p in found)


@pytest.mark.parametrize(
    ("statement", "path", "message"),
    [
        (
            {"Condition": {"NumericEquals": {"s3:max-keys": "${aws:username}"}}},
            "$.Statement[0].Condition.NumericEquals['s3:max-keys']",
            "expected no policy variable with Numeric operators",
        ),
        (
            {"Condition": {"IpAddress": {"aws:SourceIp": "${aws:x}"}}},
            "$.Statement[0].Condition.IpAddress['aws:SourceIp']",
            "expected no policy variable with Ip operators",
        ),
        (
            {"Condition": {"Bool": {"aws:SecureTransport": "${aws:x}"}}},
            "$.Statement[0].Condition.Bool['aws:SecureTransport']",
            "expected no policy variable with Bool operators",
        ),
        (
            {"Action": "s3:${aws:username}"},
            "$.Statement[0].Action",
            "expected no policy variable in Action",
        ),
        (
            {"Resource": "arn:aws:s3:${aws:region}::bucket"},
            "$.Statement[0].Resource",
            "expected policy variables only in the resource part of the ARN",
        ),
        (
            {"Resource": "arn:aws:s3:::bucket/${aws:username"},
            "$.Statement[0].Resource",
            "expected '}' to close the policy variable",
        ),
        (
            {"Resource": "arn:aws:s3:::bucket/${username}"},
            "$.Statement[0].Resource",
            "expected a policy variable like ${aws:username}",
        ),
    ],
)
def test_variables_where_they_are_not_allowed(
    statement: dict[str, Any], path: str, message: str
) -> None:
    problem = one(doc({**ALLOW, **statement}))
    assert problem.path == path
    assert problem.message.startswith(message)


def test_variables_are_not_checked_under_version_2008() -> None:
    old = {"Version": "2008-10-17", "Statement": [{**ALLOW, "Resource": "arn:aws:s3:::b/${x"}]}
    assert parse_policy(old).version == "2008-10-17"


def test_variable_in_principal() -> None:
    trust = doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "${aws:x}"}})
    problem = one(trust, PolicyKind.TRUST)
    assert problem.path == "$.Statement[0].Principal.AWS"
    assert problem.message == "expected no policy variable in a principal, got '${aws:x}'"


@pytest.mark.parametrize(
    ("kind", "limit"),
    [
        (PolicyKind.IDENTITY, 6144),
        (PolicyKind.BOUNDARY, 6144),
        (PolicyKind.INLINE, 10240),
        (PolicyKind.TRUST, 2048),
        (PolicyKind.SESSION, 2048),
        (PolicyKind.SCP, 5120),
    ],
)
def test_size_limits_per_kind_do_not_count_whitespace(kind: PolicyKind, limit: int) -> None:
    assert kind.size_limit == limit
    statement: dict[str, Any] = {"Effect": "Allow", "Action": "s3:GetObject"}
    if kind is PolicyKind.TRUST:
        statement = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "*"}}
    else:
        statement["Resource"] = "arn:aws:s3:::b"
    base = json.dumps(doc(statement), separators=(",", ":"))
    room = limit - len(base)
    fits = base.replace('"Statement"', '"Id":"' + "x" * (room - 8) + '","Statement"', 1)
    if kind in (PolicyKind.IDENTITY, PolicyKind.BOUNDARY, PolicyKind.INLINE, PolicyKind.SESSION):
        # No Id in identity-based policies: pad a Sid instead.
        pad = "x" * (room - 9)
        fits = base.replace('"Effect"', f'"Sid":"{pad}","Effect"', 1)
    assert len(fits) == limit
    spaced = fits.replace(",", " ,\n\t ")  # whitespace is free
    assert parse_policy(spaced, kind=kind).size == limit
    over = fits.replace("xx", "xxx", 1)
    problem = one(over, kind)
    assert problem.path == "$"
    assert problem.message.endswith(
        f"expected at most {limit} characters (whitespace not "
        f"counted) in {'an' if kind.label[0] in 'aeiou' else 'a'} "
        f"{kind.label}, got {limit + 1}"
    )


def test_resource_policies_have_no_iam_size_limit() -> None:
    assert PolicyKind.RESOURCE.size_limit is None


def test_characters_outside_tab_lf_cr_and_latin_1() -> None:
    found = problems(doc({**ALLOW, "Sid": "Café"}, Id="ポリシー"), PolicyKind.RESOURCE)
    assert (
        Problem(
            "$.Id",
            "expected only tab, LF, CR and characters U+0020-U+00FF, got U+30DD at character 0",
        )
        in found
    )
    escaped = problems(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Get\\u0001",'
        '"Resource":"*"}]}'
    )
    assert escaped[0].path == "$.Statement[0].Action"
    assert "got U+0001 at character 6" in escaped[0].message


def test_unknown_version() -> None:
    assert one({**doc(ALLOW), "Version": "2012-10-18"}) == Problem(
        "$.Version", 'expected Version "2012-10-17" or "2008-10-17", got \'2012-10-18\''
    )
    assert parse_policy({"Statement": [ALLOW]}).version is None


def test_duplicate_keys_are_rejected() -> None:
    text = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Effect":"Deny",'
        '"Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":'
        '{"aws:username":"a","aws:username":"b"}}}]}'
    )
    assert [str(p) for p in problems(text)] == [
        "$.Statement[0].Effect: expected each key once per object (IAM rejects duplicates), "
        "got 'Effect' again",
        "$.Statement[0].Condition.StringEquals['aws:username']: expected each key once per "
        "object (IAM rejects duplicates), got 'aws:username' again",
    ]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("[1, 2]", "expected a JSON object (a policy document), got an array"),
        ("null", "expected a JSON object (a policy document), got null"),
        ('"policy"', "expected a JSON object (a policy document), got a string"),
        (
            "{",
            "expected valid JSON, got Expecting property name enclosed in double quotes at "
            "line 1 column 2",
        ),
        ('{"Version": NaN}', "expected a JSON number, got NaN"),
        (b"\xff{}", "expected UTF-8 text, got byte 0xFF at offset 0"),
        ("[" * 100000, "expected at most 32 levels of nesting"),
    ],
)
def test_non_object_and_non_json_input(source: str | bytes, message: str) -> None:
    found = problems(source)
    assert Problem("$", message) in found


def test_statement_must_be_objects() -> None:
    assert one({"Version": "2012-10-17", "Statement": []}) == Problem(
        "$.Statement",
        "expected Statement as an object or a non-empty array of objects, got an empty array",
    )
    assert one({"Version": "2012-10-17", "Statement": [ALLOW, "x"]}) == Problem(
        "$.Statement[1]", "expected a statement object, got a string"
    )
    assert one({"Version": "2012-10-17"}) == Problem("$", "expected a Statement element, got none")


def test_principal_rules_per_kind() -> None:
    with_principal = {**ALLOW, "Principal": {"AWS": "123456789012"}}
    assert one(doc(with_principal)) == Problem(
        "$.Statement[0].Principal",
        "expected no Principal in an identity policy: it applies to the identity it is attached to",
    )
    for kind in (PolicyKind.BOUNDARY, PolicyKind.SESSION, PolicyKind.SCP, PolicyKind.INLINE):
        assert one(doc(with_principal), kind).path == "$.Statement[0].Principal"
    assert one(doc(ALLOW), PolicyKind.RESOURCE) == Problem(
        "$.Statement[0]", "expected Principal or NotPrincipal in a resource policy"
    )
    trust = {"Effect": "Allow", "Action": "sts:AssumeRoleWithSAML"}
    assert one(doc(trust), PolicyKind.TRUST).message == (
        "expected Principal or NotPrincipal in a trust policy"
    )
    not_principal = {**trust, "NotPrincipal": {"AWS": "123456789012"}}
    assert one(doc(not_principal), PolicyKind.TRUST) == Problem(
        "$.Statement[0].NotPrincipal", "expected Principal, not NotPrincipal, in a trust policy"
    )
    with_resource = {**trust, "Principal": "*", "Resource": "*"}
    assert one(doc(with_resource), PolicyKind.TRUST) == Problem(
        "$.Statement[0].Resource",
        "expected no Resource in a trust policy (the role itself is the resource)",
    )


@pytest.mark.parametrize(
    ("principal", "path", "message"),
    [
        (
            {"AWS": "arn:aws:iam::123456789012:user/*"},
            "$.Statement[0].Principal.AWS",
            'expected "*", a 12-digit account id or an IAM/STS ARN',
        ),
        ({"AWS": "1234"}, "$.Statement[0].Principal.AWS", 'expected "*", a 12-digit'),
        (
            {"Federated": "arn:aws:iam::123456789012:saml-provider/*"},
            "$.Statement[0].Principal.Federated",
            "expected a Federated principal without wildcards",
        ),
        (
            {"Group": "x"},
            "$.Statement[0].Principal.Group",
            "expected a principal type (AWS, Federated, Service, CanonicalUser), got 'Group'",
        ),
        ("everyone", "$.Statement[0].Principal", 'expected Principal "*" or an object'),
        ({}, "$.Statement[0].Principal", 'expected Principal "*" or an object'),
    ],
)
def test_malformed_principals(principal: Any, path: str, message: str) -> None:
    statement = {**ALLOW, "Principal": principal}
    problem = one(doc(statement), PolicyKind.RESOURCE)
    assert problem.path == path
    assert problem.message.startswith(message)


def test_sid_rules() -> None:
    assert one(doc({**ALLOW, "Sid": "read bucket"})) == Problem(
        "$.Statement[0].Sid", "expected a Sid of letters and digits only, got 'read bucket'"
    )
    assert one(doc({**ALLOW, "Sid": "A"}, {**ALLOW, "Sid": "A"})) == Problem(
        "$.Statement[1].Sid", "expected a unique Sid, got 'A' again (first used by statement 0)"
    )
    # Services with resource policies allow more characters in a Sid.
    resource = {**ALLOW, "Sid": "Allow read", "Principal": "*"}
    assert parse_policy(doc(resource), kind=PolicyKind.RESOURCE).statements[0].sid == "Allow read"


def test_id_only_in_resource_based_policies() -> None:
    assert one(doc(ALLOW, Id="Admin_Policy")) == Problem(
        "$.Id",
        "expected no Id in an identity policy: the policy grammar allows Id only in "
        "resource-based policies",
    )
    resource = doc({**ALLOW, "Principal": "*"}, Id="Admin_Policy")
    assert parse_policy(resource, kind=PolicyKind.RESOURCE).id == "Admin_Policy"


def test_every_problem_is_reported_at_once() -> None:
    broken = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Permit", "Action": "s3:GetObject", "Resource": "*", "Extra": 1},
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "1.2.3.4/40"}, "Bogus": {"a:b": "c"}},
            },
        ],
    }
    with pytest.raises(PolicyError) as caught:
        parse_policy(broken)
    paths = [p.path for p in caught.value.problems]
    assert paths == [
        "$.Statement[0].Extra",
        "$.Statement[0].Effect",
        "$.Statement[1].Condition.IpAddress['aws:SourceIp']",
        "$.Statement[1].Condition.Bogus",
    ]
    lines = str(caught.value).splitlines()
    assert lines == [str(p) for p in caught.value.problems]
