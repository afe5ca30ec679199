"""sekisho_emulator_api_requests_total: every call to /aws, by service, operation and error code.

boto3 clients send real signed requests through the Django test client (the IAM tests'
``DjangoAws``), so the labels come from the same routing and parsing the answers do.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from django.test import Client

from sekisho.emulator import accounts
from sekisho.ops import metrics
from tests.emulator.test_iam_service import ACCOUNT_ID, DjangoAws

pytestmark = pytest.mark.django_db


def calls(service: str, operation: str, error_code: str) -> float:
    labels = {"service": service, "operation": operation, "error_code": error_code}
    return metrics.REGISTRY.get_sample_value("sekisho_emulator_api_requests_total", labels) or 0.0


@pytest.fixture
def keys() -> tuple[str, str]:
    _, key_id, secret = accounts.bootstrap(ACCOUNT_ID)
    return key_id, secret


def test_answered_and_refused_iam_calls_count_by_operation(keys: tuple[str, str]) -> None:
    iam = DjangoAws().boto("iam", *keys)
    before = calls("iam", "ListRoles", ""), calls("iam", "GetRole", "NoSuchEntity")
    iam.list_roles()
    with pytest.raises(ClientError):
        iam.get_role(RoleName="missing")
    assert calls("iam", "ListRoles", "") == before[0] + 1
    assert calls("iam", "GetRole", "NoSuchEntity") == before[1] + 1


def test_a_bad_signature_still_names_the_operation(keys: tuple[str, str]) -> None:
    iam = DjangoAws().boto("iam", keys[0], "not-the-secret")
    before = calls("iam", "ListUsers", "SignatureDoesNotMatch")
    with pytest.raises(ClientError):
        iam.list_users()
    assert calls("iam", "ListUsers", "SignatureDoesNotMatch") == before + 1


def test_rest_json_operations_are_named_from_the_model(keys: tuple[str, str]) -> None:
    connect = DjangoAws().boto("connect", *keys)
    before = calls("connect", "ListInstances", "")
    connect.list_instances()
    assert calls("connect", "ListInstances", "") == before + 1


def test_unsigned_and_unknown_calls_never_put_client_text_in_labels() -> None:
    client = Client()
    before_unsigned = calls("", "", "MissingAuthenticationToken")
    before_saml = sum(
        s.value
        for family in metrics.REGISTRY.collect()
        if family.name == "sekisho_emulator_api_requests"
        for s in family.samples
        if s.labels["operation"] == "AssumeRoleWithSAML"
    )
    client.post(
        "/aws",
        "Action=DropTables&Version=2010-05-08",
        content_type="application/x-www-form-urlencoded",
    )
    client.post(
        "/aws",
        "Action=AssumeRoleWithSAML&Version=2011-06-15&RoleArn=x&PrincipalArn=y&SAMLAssertion=zz",
        content_type="application/x-www-form-urlencoded",
    )
    assert calls("", "", "MissingAuthenticationToken") == before_unsigned + 1
    after_saml: list[Any] = [
        s
        for family in metrics.REGISTRY.collect()
        if family.name == "sekisho_emulator_api_requests"
        for s in family.samples
        if s.labels["operation"] == "AssumeRoleWithSAML"
    ]
    assert sum(s.value for s in after_saml) == before_saml + 1
    assert {s.labels["service"] for s in after_saml} == {"sts"}
    text = Client().get("/metrics").content.decode()
    assert "DropTables" not in text
