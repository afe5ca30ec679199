"""evaluate() and evaluate_trust(): AWS's order, from the IAM User Guide's examples."""

from __future__ import annotations

from typing import Any

import pytest

from sekisho.policy import PolicyKind, evaluate, evaluate_trust
from tests.policy.helpers import decide, policy, request

# --- Action and Resource matching -------------------------------------------------------

ACTION_CASES = [
    # "Action":"ec2:StartInstances"; "Action":"cloudformation:*"; "Action":"*";
    # "Action":["s3:Get*","s3:List*"] (policy grammar, action_string); service prefix and
    # action name are case-insensitive.
    ("ec2:StartInstances", "ec2:StartInstances", True),
    ("ec2:StartInstances", "EC2:startinstances", True),
    ("ec2:StartInstances", "ec2:StopInstances", False),
    ("cloudformation:*", "cloudformation:CreateStack", True),
    ("*", "anything:AtAll", True),
    ("s3:Get*", "s3:GetObject", True),
    ("s3:Get*", "s3:PutObject", False),
    ("iam:*AccessKey*", "iam:CreateAccessKey", True),
    ("s3:Get?bject", "s3:GetObject", True),
    ("s3:Get?bject", "s3:GetObbject", False),
]


@pytest.mark.parametrize(("pattern", "action", "expected"), ACTION_CASES)
def test_action_patterns(pattern: str, action: str, expected: bool) -> None:
    allow = policy({"Effect": "Allow", "Action": pattern, "Resource": "*"})
    assert decide(allow, request(action)).allowed is expected


RESOURCE_CASES = [
    # "arn:aws:iam::account-ID-without-hyphens:user/accounting/*" (all IAM users whose path is
    # /accounting); "arn:aws:s3:::my_corporate_bucket/*" (all items in the bucket).
    (
        "arn:aws:iam::123456789012:user/accounting/*",
        "arn:aws:iam::123456789012:user/accounting/bob",
        True,
    ),
    (
        "arn:aws:iam::123456789012:user/accounting/*",
        "arn:aws:iam::123456789012:user/sales/bob",
        False,
    ),
    ("arn:aws:s3:::my_corporate_bucket/*", "arn:aws:s3:::my_corporate_bucket/a/b:c", True),
    ("arn:aws:s3:::my_corporate_bucket/*", "arn:aws:s3:::MY_CORPORATE_BUCKET/a", False),
    # "wildcard characters (* and ?) within any ARN segment (the parts separated by colons)":
    # a * in the region stays within the region.
    ("arn:aws:sqs:*:123456789012:queue1", "arn:aws:sqs:us-east-2:123456789012:queue1", True),
    ("arn:aws:sqs:*:123456789012:queue1", "arn:aws:sqs:us-east-2:999:123456789012:queue1", False),
    ("arn:aws:sqs:us-east-?:*:queue1", "arn:aws:sqs:us-east-2:123456789012:queue1", True),
    ("*", "not-even-an-arn", True),
    # "When you specify an incomplete ARN (one with fewer than the standard six fields) in an
    # identity-based policy, AWS automatically completes the ARN by adding wildcard
    # characters (*) to all missing fields. For example, specifying arn:aws:sqs is
    # equivalent to arn:aws:sqs:*:*:*".
    ("arn:aws:sqs", "arn:aws:sqs:us-east-2:123456789012:queue1", True),
    ("arn:aws:sqs", "arn:aws:sns:us-east-2:123456789012:topic1", False),
    ("arn:aws:s3:::bucket", "arn:aws:s3:::bucket/key", False),
]


@pytest.mark.parametrize(("pattern", "resource", "expected"), RESOURCE_CASES)
def test_resource_patterns(pattern: str, resource: str, expected: bool) -> None:
    allow = policy({"Effect": "Allow", "Action": "*", "Resource": pattern})
    assert decide(allow, request(resource=resource)).allowed is expected


def test_resource_variables() -> None:
    # "Resource": ["arn:aws:iam::account-id:user/${aws:username}"] lets each user manage
    # their own access keys.
    own = policy(
        {
            "Effect": "Allow",
            "Action": ["iam:*AccessKey*"],
            "Resource": ["arn:aws:iam::123456789012:user/${aws:username}"],
        }
    )
    user = "arn:aws:iam::123456789012:user/David"
    assert decide(own, request("iam:CreateAccessKey", user, {"aws:username": "David"})).allowed
    assert not decide(own, request("iam:CreateAccessKey", user, {"aws:username": "Adele"})).allowed
    # "If a variable that has no value ... is used as part of the Resource ... element ...
    # the resource that includes a policy variable with no value will not match any resource."
    assert not decide(own, request("iam:CreateAccessKey", user)).allowed
    # A substituted * is literal.
    star = "arn:aws:iam::123456789012:user/*"
    assert not decide(
        own,
        request("iam:CreateAccessKey", "arn:aws:iam::123456789012:user/x", {"aws:username": "*"}),
    ).allowed
    assert decide(own, request("iam:CreateAccessKey", star, {"aws:username": "*"})).allowed


def test_resource_variable_default() -> None:
    # "Resource":"arn:aws:s3:::amzn-s3-demo-bucket-${aws:PrincipalTag/team, 'company-wide'}"
    # ("For users without team tags, it sets a default value of company-wide").
    team = policy(
        {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": "arn:aws:s3:::amzn-s3-demo-bucket-${aws:PrincipalTag/team, 'company-wide'}",
        }
    )
    yellow = "arn:aws:s3:::amzn-s3-demo-bucket-yellow"
    wide = "arn:aws:s3:::amzn-s3-demo-bucket-company-wide"
    assert decide(
        team, request("s3:ListBucket", yellow, {"aws:PrincipalTag/team": "yellow"})
    ).allowed
    assert not decide(
        team, request("s3:ListBucket", wide, {"aws:PrincipalTag/team": "yellow"})
    ).allowed
    assert decide(team, request("s3:ListBucket", wide)).allowed


def test_an_unresolved_variable_makes_the_whole_statement_inapplicable() -> None:
    # Issue 13, finding 1. IAM User Guide, "Variables and tags": "If AWS cannot resolve a
    # variable, this might cause the entire statement to be invalid." A role session has no
    # aws:username, so this Allow must not apply to every resource.
    guard = policy(
        {"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::home/${aws:username}"}
    )
    session = "arn:aws:sts::123456789012:assumed-role/Agents/alice"
    unresolved = decide(guard, request(resource="arn:aws:s3:::home/alice", principal=session))
    assert unresolved.decision == "ImplicitDeny"
    assert "${aws:username}, which has no value" in unresolved.trace[0].reasons[1]
    assert "does not apply" in unresolved.explanation
    other = request(resource="arn:aws:s3:::shared/report", principal=session)
    assert not decide(guard, other).allowed
    # With the key present, NotResource excludes only the user's own home.
    named = {"aws:username": "alice"}
    assert not decide(guard, request(resource="arn:aws:s3:::home/alice", context=named)).allowed
    assert decide(guard, request(resource="arn:aws:s3:::shared/report", context=named)).allowed
    # A default value resolves the variable.
    defaulted = policy(
        {
            "Effect": "Allow",
            "Action": "s3:*",
            "NotResource": "arn:aws:s3:::home/${aws:username, 'nobody'}",
        }
    )
    assert decide(defaulted, request(resource="arn:aws:s3:::home/alice")).allowed
    assert not decide(defaulted, request(resource="arn:aws:s3:::home/nobody")).allowed
    # In a Resource list, the unresolved entry spoils the statement even where another
    # entry matches; and a Deny whose variable has no value does not apply either.
    listed = policy(
        {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::public/*", "arn:aws:s3:::home/${aws:username}/*"],
        }
    )
    assert not decide(listed, request(resource="arn:aws:s3:::public/x")).allowed
    assert decide(listed, request(resource="arn:aws:s3:::public/x", context=named)).allowed
    starred = policy(
        {"Effect": "Allow", "Action": "s3:*", "Resource": ["*", "arn:aws:s3:::h/${aws:username}"]}
    )
    assert not decide(starred, request()).allowed
    assert decide(starred, request(context=named)).allowed
    deny = policy(
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::h/${aws:username}"},
    )
    assert decide(deny, request()).allowed
    assert decide(deny, request(context=named)).decision == "ExplicitDeny"


def test_not_action_with_allow_and_with_deny() -> None:
    # NotAction with Allow allows everything not listed; with Deny denies everything not
    # listed.
    everything_but_iam = policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert decide(everything_but_iam, request("s3:GetObject")).allowed
    assert not decide(everything_but_iam, request("iam:CreateUser")).allowed
    only_iam = policy(
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"},
    )
    assert decide(only_iam, request("s3:GetObject")).decision == "ExplicitDeny"
    assert decide(only_iam, request("iam:CreateUser")).allowed


# --- The documented examples of evaluation ----------------------------------------------

CARLOS = policy(
    # "Example identity-based and resource-based policy evaluation": the policy attached to
    # the carlossalazar IAM user ...
    {
        "Sid": "AllowS3ListRead",
        "Effect": "Allow",
        "Action": [
            "s3:GetBucketLocation",
            "s3:GetAccountPublicAccessBlock",
            "s3:ListAccessPoints",
            "s3:ListAllMyBuckets",
        ],
        "Resource": "arn:aws:s3:::*",
    },
    {
        "Sid": "AllowS3Self",
        "Effect": "Allow",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"],
    },
    {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*log*"},
    name="carlossalazar",
)
BUCKET = policy(
    # ... and the bucket policy: "only the carlossalazar user can access the carlossalazar
    # bucket".
    {
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:user/carlossalazar"},
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"],
    },
    name="bucket",
    kind=PolicyKind.RESOURCE,
)
CARLOS_ARN = "arn:aws:iam::123456789012:user/carlossalazar"


def test_carlos_is_denied_the_logs_bucket_and_allowed_his_own() -> None:
    # "AWS first checks for a Deny statement ... It finds one ... Carlos is denied access."
    logs = request("s3:PutObject", "arn:aws:s3:::carlossalazar-logs/f", principal=CARLOS_ARN)
    denied = decide(CARLOS, logs, resource_policy=BUCKET)
    assert denied.decision == "ExplicitDeny"
    assert [(m.policy, m.sid) for m in denied.matched] == [("carlossalazar", "DenyS3Logs")]
    # "Both the identity-based policy and the resource-based policy allow the request."
    own = request("s3:PutObject", "arn:aws:s3:::carlossalazar/f", principal=CARLOS_ARN)
    assert decide(CARLOS, own, resource_policy=BUCKET).allowed
    # "If one of the policy types allows the request and the other doesn't, the request is
    # still allowed": the bucket policy alone grants it to the user directly.
    nothing = policy({"Effect": "Allow", "Action": "ec2:*", "Resource": "*"})
    alone = decide(nothing, own, resource_policy=BUCKET)
    assert alone.allowed
    assert [m.policy for m in alone.matched] == ["bucket"]
    assert decide(CARLOS, own).allowed


def test_report_actions_are_denied_explicitly() -> None:
    # "The AllowGetList statement allows read-only access to IAM actions that begin with ...
    # Get and List ... The DenyReports statement explicitly denies ... the Report suffix".
    reports = policy(
        {
            "Sid": "AllowGetList",
            "Effect": "Allow",
            "Action": ["iam:Get*", "iam:List*"],
            "Resource": "*",
        },
        {"Sid": "DenyReports", "Effect": "Deny", "Action": "iam:*Report", "Resource": "*"},
    )
    assert decide(reports, request("iam:GetUser")).allowed
    assert decide(reports, request("iam:CreatePolicy")).decision == "ImplicitDeny"
    assert decide(reports, request("iam:GetOrganizationsAccessReport")).decision == "ExplicitDeny"
    grant = policy({"Effect": "Allow", "Action": "iam:GenerateCredentialReport", "Resource": "*"})
    assert (
        decide([reports, grant], request("iam:GenerateCredentialReport")).decision == "ExplicitDeny"
    )


# --- The order of the policy types ------------------------------------------------------

ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}
S3_ONLY = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
DENY_S3 = {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}
GET = request("s3:GetObject", principal="arn:aws:sts::123456789012:assumed-role/R/s")


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        ({"scps": [policy(ALL, kind=PolicyKind.SCP)]}, "Allow"),
        ({"scps": [policy(DENY_S3, kind=PolicyKind.SCP)]}, "ExplicitDeny"),
        # "If the enforcement code does not find any applicable Allow statements in the SCPs,
        # then the request is implicitly denied."
        ({"scps": [policy({**ALL, "Action": "ec2:*"}, kind=PolicyKind.SCP)]}, "ImplicitDeny"),
        ({"permission_boundary": policy(S3_ONLY, kind=PolicyKind.BOUNDARY)}, "Allow"),
        (
            {"permission_boundary": policy({**ALL, "Action": "ec2:*"}, kind=PolicyKind.BOUNDARY)},
            "ImplicitDeny",
        ),
        ({"permission_boundary": policy(DENY_S3, kind=PolicyKind.BOUNDARY)}, "ExplicitDeny"),
        ({"session_policy": policy(S3_ONLY, kind=PolicyKind.SESSION)}, "Allow"),
        (
            {"session_policy": policy({**ALL, "Action": "ec2:*"}, kind=PolicyKind.SESSION)},
            "ImplicitDeny",
        ),
        ({"session_policy": policy(DENY_S3, kind=PolicyKind.SESSION)}, "ExplicitDeny"),
    ],
)
def test_every_layer_must_allow_and_any_deny_wins(layers: dict[str, Any], expected: str) -> None:
    assert decide(policy(ALL), GET, **layers).decision == expected


def test_no_identity_allow_is_an_implicit_deny() -> None:
    assert evaluate(request=GET).decision == "ImplicitDeny"
    assert decide(policy({**ALL, "Action": "ec2:*"}), GET).decision == "ImplicitDeny"


def test_explicit_deny_anywhere_beats_a_resource_policy_grant() -> None:
    grant = policy({**ALL, "Principal": "*"}, kind=PolicyKind.RESOURCE)
    assert decide(policy(DENY_S3), GET, resource_policy=grant).decision == "ExplicitDeny"
    scp_deny = policy(DENY_S3, kind=PolicyKind.SCP)
    assert (
        decide(policy(ALL), GET, resource_policy=grant, scps=[scp_deny]).decision == "ExplicitDeny"
    )


ROLE = "arn:aws:iam::123456789012:role/examplerole"
SESSION = "arn:aws:sts::123456789012:assumed-role/examplerole/examplerolesessionname"
BOUNDARY_EC2 = policy({**ALL, "Action": "ec2:*"}, kind=PolicyKind.BOUNDARY)


def resource_grant(aws: str) -> Any:
    return policy({**ALL, "Principal": {"AWS": aws}}, kind=PolicyKind.RESOURCE, name="res")


def test_same_account_resource_policy_naming_the_session_ignores_implicit_denies() -> None:
    # "resource-based policies that grant permissions to an IAM role session ARN grant
    # permissions directly to the assumed role session ... not limited by an implicit deny in
    # an identity-based policy, a permissions boundary, or session policy."
    req = request("sqs:SendMessage", "arn:aws:sqs:us-east-2:123456789012:q", principal=SESSION)
    direct = decide(
        [], req, resource_policy=resource_grant(SESSION), permission_boundary=BOUNDARY_EC2
    )
    assert direct.allowed


def test_same_account_resource_policy_naming_the_role_is_limited_by_the_boundary() -> None:
    # "Resource-based policies that grant permissions to an IAM role ARN are limited by an
    # implicit deny in a permissions boundary or session policy."
    req = request("sqs:SendMessage", "arn:aws:sqs:us-east-2:123456789012:q", principal=SESSION)
    assert decide([], req, resource_policy=resource_grant(ROLE)).allowed
    limited = decide(
        [], req, resource_policy=resource_grant(ROLE), permission_boundary=BOUNDARY_EC2
    )
    assert limited.decision == "ImplicitDeny"


def test_same_account_resource_policy_naming_the_account_needs_identity_policies() -> None:
    req = request("sqs:SendMessage", "arn:aws:sqs:us-east-2:123456789012:q", principal=SESSION)
    account = resource_grant("123456789012")
    assert decide([], req, resource_policy=account).decision == "ImplicitDeny"
    assert decide(policy(ALL), req, resource_policy=account).allowed


def test_cross_account_needs_both_sides() -> None:
    other = "arn:aws:sts::999999999999:assumed-role/R/s"
    req = request("sqs:SendMessage", "arn:aws:sqs:us-east-2:123456789012:q", principal=other)
    grant = resource_grant("999999999999")
    assert decide(policy(ALL), req, resource_policy=grant).allowed
    assert decide([], req, resource_policy=grant).decision == "ImplicitDeny"
    refused = decide(policy(ALL), req, resource_policy=resource_grant("111122223333"))
    assert refused.decision == "ImplicitDeny"
    assert "resource policy" in refused.explanation


def test_root_user_has_full_access_unless_denied() -> None:
    # "all requests are implicitly denied with the exception of the AWS account root user,
    # which has full access."
    root = request("s3:GetObject", principal="arn:aws:iam::123456789012:root")
    assert evaluate(request=root).allowed
    assert decide(policy(DENY_S3), root).decision == "ExplicitDeny"


def test_federated_user_session_needs_a_session_policy() -> None:
    # "If there is no session policy, the code checks whether the principal is a role
    # session. If the principal is a role session, then the request is Allowed. Otherwise,
    # the request is implicitly denied".
    federated = request("s3:GetObject", principal="arn:aws:sts::123456789012:federated-user/bob")
    assert decide(policy(ALL), federated).decision == "ImplicitDeny"
    session = policy(S3_ONLY, kind=PolicyKind.SESSION)
    assert decide(policy(ALL), federated, session_policy=session).allowed
    assert decide(policy(ALL), GET).allowed


# --- Principals and trust policies ------------------------------------------------------

SAML_PROVIDER = "arn:aws:iam::123456789012:saml-provider/Sekisho"


def trust(principal: Any, **extra: Any) -> Any:
    return policy(
        {"Effect": "Allow", "Action": "sts:AssumeRoleWithSAML", "Principal": principal, **extra},
        kind=PolicyKind.TRUST,
        name="trust",
    )


def test_trust_policy_must_allow_the_saml_provider() -> None:
    # "Principal": { "Federated": "arn:aws:iam::AWS-account-ID:saml-provider/provider-name" }
    saml = trust(
        {"Federated": SAML_PROVIDER},
        Condition={"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}},
    )
    ok = request(
        "sts:AssumeRoleWithSAML",
        "arn:aws:iam::123456789012:role/ConnectFederation",
        {"SAML:aud": "https://signin.aws.amazon.com/saml"},
        principal=SAML_PROVIDER,
    )
    assert evaluate_trust(trust_policy=saml, request=ok).allowed
    other = ok._replace(principal="arn:aws:iam::123456789012:saml-provider/Other")
    assert evaluate_trust(trust_policy=saml, request=other).decision == "ImplicitDeny"
    wrong_aud = ok._replace(context=request(context={"SAML:aud": "x"}).context)
    assert evaluate_trust(trust_policy=saml, request=wrong_aud).decision == "ImplicitDeny"
    assert (
        evaluate_trust(trust_policy=saml, request=ok._replace(action="sts:AssumeRole")).decision
        == "ImplicitDeny"
    )


@pytest.mark.parametrize(
    ("principal", "caller", "expected"),
    [
        # "you can use either of the following methods to specify that account":
        # {"AWS": "arn:aws:iam::123456789012:root"} and {"AWS": "123456789012"}; "Using the
        # account ARN ... does not limit permissions to only the root user of the account."
        ({"AWS": "arn:aws:iam::123456789012:root"}, "arn:aws:iam::123456789012:user/bob", True),
        ({"AWS": "123456789012"}, "arn:aws:sts::123456789012:assumed-role/R/s", True),
        ({"AWS": "123456789012"}, "arn:aws:iam::999999999999:user/bob", False),
        ({"AWS": "arn:aws:iam::123456789012:user/bob"}, "arn:aws:iam::123456789012:user/bob", True),
        (
            {"AWS": "arn:aws:iam::123456789012:user/bob"},
            "arn:aws:iam::123456789012:user/Bob",
            False,
        ),
        (
            {"AWS": "arn:aws:iam::123456789012:role/path/R"},
            "arn:aws:sts::123456789012:assumed-role/R/s",
            True,
        ),
        (
            {"Service": ["ecs.amazonaws.com", "elasticloadbalancing.amazonaws.com"]},
            "ecs.amazonaws.com",
            True,
        ),
        ({"Service": "ecs.amazonaws.com"}, "ec2.amazonaws.com", False),
        ({"Federated": "accounts.google.com"}, "accounts.google.com", True),
        # "For anonymous users, the following elements are equivalent: "Principal": "*" and
        # "Principal" : { "AWS" : "*" }".
        ("*", None, True),
        ({"AWS": "*"}, None, True),
        ({"AWS": "123456789012"}, None, False),
        (
            {"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},
            "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be",
            True,
        ),
    ],
)
def test_principal_element(principal: Any, caller: str | None, expected: bool) -> None:
    statement = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": principal}
    role = policy(statement, kind=PolicyKind.TRUST)
    req = request("sts:AssumeRole", "arn:aws:iam::123456789012:role/Target", principal=caller)
    assert evaluate_trust(trust_policy=role, request=req).allowed is expected


def test_not_principal_with_deny_must_name_the_account_role_and_session() -> None:
    # The guide's example denies all principals except the assumed-role user, listing "the
    # ARN of the assumed-role user ..., the role ..., and the AWS account"; without the
    # account ARN "the effect of the policy might be to explicitly deny access to the AWS
    # account" (the strict reading: a chain not fully listed is denied).
    session = (
        "arn:aws:sts::444455556666:assumed-role/cross-account-read-only-role/"
        "cross-account-audit-app"
    )
    listed = [
        session,
        "arn:aws:iam::444455556666:role/cross-account-read-only-role",
        "arn:aws:iam::444455556666:root",
    ]
    statements = [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "NotPrincipal": {"AWS": listed}, "Action": "s3:*", "Resource": "*"},
    ]
    bucket = policy(*statements, kind=PolicyKind.RESOURCE)
    req = request("s3:GetObject", "arn:aws:s3:::Bucket_AccountAudit/x", principal=session)
    assert decide(policy(ALL), req, resource_policy=bucket).allowed
    stranger = req._replace(principal="arn:aws:sts::444455556666:assumed-role/other/s")
    assert decide(policy(ALL), stranger, resource_policy=bucket).decision == "ExplicitDeny"
    partial = [{**statements[0]}, {**statements[1], "NotPrincipal": {"AWS": listed[:2]}}]
    strict = policy(*partial, kind=PolicyKind.RESOURCE)
    assert decide(policy(ALL), req, resource_policy=strict).decision == "ExplicitDeny"


def test_matched_lists_every_deny_and_the_deciding_allows() -> None:
    two_denies = policy(
        {"Sid": "A", **DENY_S3},
        {"Sid": "B", "Effect": "Deny", "Action": "s3:Get*", "Resource": "*"},
        {"Sid": "C", **ALL},
    )
    assert [m.sid for m in decide(two_denies, GET).matched] == ["A", "B"]
    boundary = policy({"Sid": "Bound", **S3_ONLY}, kind=PolicyKind.BOUNDARY, name="b")
    allowed = decide(policy({"Sid": "Id", **ALL}, name="i"), GET, permission_boundary=boundary)
    assert [(m.policy, m.sid, m.effect) for m in allowed.matched] == [
        ("i", "Id", "Allow"),
        ("b", "Bound", "Allow"),
    ]


@pytest.mark.parametrize("action", ["sts:GetCallerIdentity", "STS:getcalleridentity"])
def test_get_caller_identity_needs_no_permission(action: str) -> None:
    # Issue 13, finding 2. STS API Reference, GetCallerIdentity: "No permissions are required
    # to perform this operation. If an administrator attaches a policy to your identity that
    # explicitly denies access to the sts:GetCallerIdentity action, you can still perform
    # this operation."
    deny_all = policy({"Effect": "Deny", "Action": "*", "Resource": "*"})
    session = "arn:aws:sts::123456789012:assumed-role/Agents/alice"
    decision = decide(deny_all, request(action, "*", principal=session))
    assert decision.decision == "Allow"
    assert "needs no permission" in decision.explanation
    assert decide([], request(action, "*", principal=session)).allowed
    # Everything else STS does still needs a permission.
    assert not decide(deny_all, request("sts:AssumeRole", "*", principal=session)).allowed
