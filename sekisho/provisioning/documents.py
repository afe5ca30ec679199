"""The documents provisioning writes, and how it reads them back (pure; no AWS, no Django).

The federation policy is the seed's (Connect Administrator Guide, "Configure SAML with IAM
for Amazon Connect"): ``connect:GetFederationToken`` on
``<instance-arn>/user/${aws:userid}``, with the IP condition of the seed's step 8. The
trust policy is IAM's standard one for SAML 2.0 federation ("Creating a role for SAML
2.0 federation"), its ``SAML:aud`` covering the application's ACS.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sekisho.provisioning.errors import ProvisioningError

AWS_GLOBAL_SIGNIN = "https://signin.aws.amazon.com/saml"
FEDERATE_ACTION = "connect:GetFederationToken"
_INSTANCE_ARN = re.compile(r"arn:(aws[a-z-]*):connect:([a-z0-9-]+):(\d{12}):instance/([^/]+)")


def parse_cidrs(values: Iterable[str]) -> list[str]:
    """CIDR blocks (IPv4 or IPv6) from the command line, normalised, in order, no repeats.

    ``"203.0.113.0/24,198.51.100.7"`` and several arguments alike; a bare address is /32
    (/128), as IAM reads it.

    Raises:
        ProvisioningError: a value that is not an address or CIDR block, or none at all.
    """
    found: list[str] = []
    for value in values:
        for part in value.split(","):
            text = part.strip()
            if not text:
                continue
            try:
                network = ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ProvisioningError(
                    f"expected an IP address or CIDR block such as 203.0.113.0/24, got {text!r}"
                ) from None
            if str(network) not in found:
                found.append(str(network))
    if not found:
        raise ProvisioningError("expected at least one CIDR block of allowed addresses")
    return found


def iam_region(region: str) -> str:
    """The region IAM is signed for in ``region``'s partition (IAM is global per partition)."""
    if region.startswith("cn-"):
        return "cn-north-1"
    if region.startswith("us-gov-"):
        return "us-gov-west-1"
    return "us-east-1"


def partition(region: str) -> str:
    """The ARN partition of a region."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def instance_arn(region: str, account_id: str, instance_id: str) -> str:
    """An Amazon Connect instance's ARN."""
    return f"arn:{partition(region)}:connect:{region}:{account_id}:instance/{instance_id}"


def split_instance_arn(arn: str) -> tuple[str, str, str] | None:
    """(region, account id, instance id) of an instance ARN, or None."""
    match = _INSTANCE_ARN.fullmatch(arn)
    return None if match is None else (match.group(2), match.group(3), match.group(4))


def federation_policy(instance: str, cidrs: Sequence[str]) -> dict[str, Any]:
    """The seed's federation policy for ``instance`` (its ARN), from ``cidrs`` only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SekishoConnectFederation",
                "Effect": "Allow",
                "Action": FEDERATE_ACTION,
                "Resource": [f"{instance}/user/${{aws:userid}}"],
                "Condition": {"IpAddress": {"aws:SourceIp": list(cidrs)}},
            }
        ],
    }


def trust_policy(provider_arn: str, audiences: Sequence[str]) -> dict[str, Any]:
    """The standard SAML 2.0 trust policy: this provider, ``SAML:aud`` one of ``audiences``."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithSAML",
                "Condition": {"StringEquals": {"SAML:aud": list(audiences)}},
            }
        ],
    }


def trust_with(
    document: str | Mapping[str, Any], provider_arn: str, audiences: Sequence[str]
) -> dict[str, Any]:
    """A role's trust policy with this provider's statement made the standard one.

    Statements for other principals (another IdP, a service) stay as they are; statements
    naming only this provider are replaced by one allowing ``audiences``.
    """
    data = decode(document)
    kept = [
        statement
        for statement in _as_list(data.get("Statement"))
        if not (isinstance(statement, Mapping) and federated_of(statement) == [provider_arn])
    ]
    ours = trust_policy(provider_arn, audiences)["Statement"][0]
    return {"Version": data.get("Version") or "2012-10-17", "Statement": [*kept, ours]}


def federated_of(statement: Mapping[str, Any]) -> list[str]:
    """The Federated principals a statement names."""
    principal = statement.get("Principal")
    if not isinstance(principal, Mapping):
        return []
    return [str(p) for p in _as_list(principal.get("Federated"))]


def trusts(document: str | Mapping[str, Any], provider_arn: str) -> bool:
    """Whether a trust policy has an Allow naming this SAML provider."""
    return any(
        isinstance(statement, Mapping)
        and statement.get("Effect") == "Allow"
        and provider_arn in federated_of(statement)
        for statement in _as_list(decode(document).get("Statement"))
    )


def decode(document: str | Mapping[str, Any]) -> dict[str, Any]:
    """A policy document as data, whatever form boto3 handed it in (text or parsed)."""
    if isinstance(document, Mapping):
        return dict(document)
    try:
        data = json.loads(document)
    except ValueError:
        raise ProvisioningError("AWS returned a policy document that is not JSON") from None
    if not isinstance(data, dict):
        raise ProvisioningError("AWS returned a policy document that is not a JSON object")
    return data


def same_document(left: str | Mapping[str, Any], right: str | Mapping[str, Any]) -> bool:
    """Whether two policy documents say the same (key order and spacing aside)."""
    return bool(_canonical(decode(left)) == _canonical(decode(right)))


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _canonical(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        items = [_canonical(item) for item in value]
        return items[0] if len(items) == 1 else items  # "x" and ["x"] mean the same
    return value


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def audiences_of(document: str | Mapping[str, Any]) -> list[str]:
    """Every ``SAML:aud`` value a trust policy names (any operator, any case of the key)."""
    found: list[str] = []
    for statement in _as_list(decode(document).get("Statement")):
        if not isinstance(statement, Mapping):
            continue
        for block in dict(statement.get("Condition") or {}).values():
            if not isinstance(block, Mapping):
                continue
            for key, values in block.items():
                if str(key).lower() == "saml:aud":
                    found.extend(str(v) for v in _as_list(values) if str(v) not in found)
    return found


def admitted_ranges(document: str | Mapping[str, Any]) -> list[str]:
    """The ``aws:SourceIp`` ranges of the federation statements of a policy document."""
    found: list[str] = []
    for statement in _as_list(decode(document).get("Statement")):
        if not isinstance(statement, Mapping):
            continue
        actions = [str(a).lower() for a in _as_list(statement.get("Action"))]
        if FEDERATE_ACTION.lower() not in actions and "connect:*" not in actions:
            continue
        ip_block = dict(statement.get("Condition") or {}).get("IpAddress") or {}
        for key, values in dict(ip_block).items():
            if str(key).lower() == "aws:sourceip":
                found.extend(str(v) for v in _as_list(values) if str(v) not in found)
    return found


def with_ranges(document: str | Mapping[str, Any], cidrs: Sequence[str]) -> dict[str, Any]:
    """The policy document with its federation statements' ``aws:SourceIp`` set to ``cidrs``.

    Raises:
        ProvisioningError: no statement allows connect:GetFederationToken (not a
            federation policy, so there is nothing to restrict).
    """
    data = decode(document)
    statements = _as_list(data.get("Statement"))
    changed = False
    for statement in statements:
        if not isinstance(statement, dict):
            continue
        actions = [str(a).lower() for a in _as_list(statement.get("Action"))]
        if statement.get("Effect") != "Allow" or FEDERATE_ACTION.lower() not in actions:
            continue
        condition = dict(statement.get("Condition") or {})
        ip_block = dict(condition.get("IpAddress") or {})
        for key in [k for k in ip_block if k.lower() == "aws:sourceip"]:
            del ip_block[key]
        ip_block["aws:SourceIp"] = list(cidrs)
        condition["IpAddress"] = ip_block
        statement["Condition"] = condition
        changed = True
    if not changed:
        raise ProvisioningError(
            f"the policy has no statement allowing {FEDERATE_ACTION}: not a federation policy"
        )
    data["Statement"] = statements
    return data


def dumps(document: Mapping[str, Any]) -> str:
    """A document as the JSON text sent to IAM (compact, stable key order)."""
    return json.dumps(document, separators=(",", ":"))
