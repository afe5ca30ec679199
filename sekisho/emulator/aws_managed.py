"""AWS managed policies the emulator knows: the ones an Amazon Connect administrator uses.

Each document is the policy's default version as the "AWS Managed Policy Reference
Guide" publishes it (version named beside it). IAM never lets an account change them:
they are attachable, readable and listable (``ListPolicies`` with ``Scope=AWS``), never
versioned or deleted. Their ``PolicyId`` is not published; the emulator derives a stable
one from the ARN.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

AWS_MANAGED_PREFIX = "arn:aws:iam::aws:policy/"


@dataclass(frozen=True)
class AwsManagedPolicy:
    """One AWS managed policy: name, path, default version, its document and dates."""

    name: str
    version_id: str
    document: dict[str, Any]
    description: str
    created: datetime
    updated: datetime
    path: str = "/"

    @property
    def arn(self) -> str:
        """``arn:aws:iam::aws:policy<path><name>``."""
        return f"arn:aws:iam::aws:policy{self.path}{self.name}"

    @property
    def policy_id(self) -> str:
        """A stable ``ANPA…`` id derived from the ARN (AWS's own ids are not published)."""
        digest = hashlib.sha256(self.arn.encode("utf-8")).digest()
        return "ANPA" + base64.b32encode(digest).decode("ascii")[:17]

    @property
    def document_text(self) -> str:
        """The document as JSON text, as IAM returns it."""
        return json.dumps(self.document, indent=2)


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


_CONNECT_FULL: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "connect:*",
                "ds:CreateAlias",
                "ds:AuthorizeApplication",
                "ds:CreateIdentityPoolDirectory",
                "ds:DeleteDirectory",
                "ds:DescribeDirectories",
                "ds:UnauthorizeApplication",
                "firehose:DescribeDeliveryStream",
                "firehose:ListDeliveryStreams",
                "kinesis:DescribeStream",
                "kinesis:ListStreams",
                "kms:DescribeKey",
                "kms:ListAliases",
                "lex:GetBots",
                "lex:ListBots",
                "lex:ListBotAliases",
                "logs:CreateLogGroup",
                "s3:GetBucketLocation",
                "s3:ListAllMyBuckets",
                "lambda:ListFunctions",
                "ds:CheckAlias",
                "profile:ListAccountIntegrations",
                "profile:GetDomain",
                "profile:ListDomains",
                "profile:GetProfileObjectType",
                "profile:ListProfileObjectTypeTemplates",
            ],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": [
                "profile:AddProfileKey",
                "profile:CreateDomain",
                "profile:CreateProfile",
                "profile:DeleteDomain",
                "profile:DeleteIntegration",
                "profile:DeleteProfile",
                "profile:DeleteProfileKey",
                "profile:DeleteProfileObject",
                "profile:DeleteProfileObjectType",
                "profile:GetIntegration",
                "profile:GetMatches",
                "profile:GetProfileObjectType",
                "profile:ListIntegrations",
                "profile:ListProfileObjects",
                "profile:ListProfileObjectTypes",
                "profile:ListTagsForResource",
                "profile:MergeProfiles",
                "profile:PutIntegration",
                "profile:PutProfileObject",
                "profile:PutProfileObjectType",
                "profile:SearchProfiles",
                "profile:TagResource",
                "profile:UntagResource",
                "profile:UpdateDomain",
                "profile:UpdateProfile",
            ],
            "Resource": "arn:aws:profile:*:*:domains/amazon-connect-*",
        },
        {
            "Effect": "Allow",
            "Action": ["s3:CreateBucket", "s3:GetBucketAcl"],
            "Resource": "arn:aws:s3:::amazon-connect-*",
        },
        {
            "Effect": "Allow",
            "Action": ["servicequotas:GetServiceQuota"],
            "Resource": "arn:aws:servicequotas:*:*:connect/*",
        },
        {
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": "*",
            "Condition": {"StringEquals": {"iam:AWSServiceName": "connect.amazonaws.com"}},
        },
        {
            "Effect": "Allow",
            "Action": "iam:DeleteServiceLinkedRole",
            "Resource": (
                "arn:aws:iam::*:role/aws-service-role/connect.amazonaws.com/"
                "AWSServiceRoleForAmazonConnect*"
            ),
        },
        {
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": "arn:aws:iam::*:role/aws-service-role/profile.amazonaws.com/*",
            "Condition": {"StringEquals": {"iam:AWSServiceName": "profile.amazonaws.com"}},
        },
    ],
}

CATALOGUE: tuple[AwsManagedPolicy, ...] = (
    AwsManagedPolicy(
        name="AdministratorAccess",
        version_id="v1",
        document={
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        },
        description="Provides full access to AWS services and resources.",
        created=_when("2015-02-06T18:39:46"),
        updated=_when("2015-02-06T18:39:46"),
    ),
    AwsManagedPolicy(
        name="AmazonConnect_FullAccess",
        version_id="v4",
        document=_CONNECT_FULL,
        description=(
            "The purpose of this policy is to grant permissions to AWS Connect users required "
            "to use Connect resources. This policy provides full access to AWS Connect "
            "resources via the Connect Console and public APIs"
        ),
        created=_when("2020-11-20T19:54:00"),
        updated=_when("2023-03-07T14:49:00"),
    ),
    AwsManagedPolicy(
        name="AmazonConnectReadOnlyAccess",
        version_id="v4",
        document={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowConnectReadOnly",
                    "Effect": "Allow",
                    "Action": [
                        "connect:Get*",
                        "connect:Describe*",
                        "connect:List*",
                        "ds:DescribeDirectories",
                    ],
                    "Resource": "*",
                },
                {
                    "Sid": "DenyConnectEmergencyAccess",
                    "Effect": "Deny",
                    "Action": "connect:AdminGetEmergencyAccessToken",
                    "Resource": "*",
                },
            ],
        },
        description="Grants permission to view the Amazon Connect instances in your AWS account.",
        created=_when("2018-10-17T21:00:00"),
        updated=_when("2024-06-19T15:15:00"),
    ),
    AwsManagedPolicy(
        name="IAMReadOnlyAccess",
        version_id="v4",
        document={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": [
                        "iam:GenerateCredentialReport",
                        "iam:GenerateServiceLastAccessedDetails",
                        "iam:Get*",
                        "iam:List*",
                        "iam:SimulateCustomPolicy",
                        "iam:SimulatePrincipalPolicy",
                    ],
                    "Resource": "*",
                }
            ],
        },
        description="Provides read only access to IAM via the AWS Management Console.",
        created=_when("2015-02-06T18:39:48"),
        updated=_when("2018-01-25T19:11:27"),
    ),
)

BY_ARN: dict[str, AwsManagedPolicy] = {policy.arn: policy for policy in CATALOGUE}


def is_aws_managed(arn: str) -> bool:
    """Whether an ARN names an AWS managed policy (``arn:aws:iam::aws:policy/…``)."""
    return arn.startswith(AWS_MANAGED_PREFIX)
