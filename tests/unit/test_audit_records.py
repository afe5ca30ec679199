"""Audit events: CloudTrail envelope, Identity Center sign-in shapes, and secret scrubbing."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sekisho.audit import records
from sekisho.audit.errors import AuditError
from sekisho.audit.records import HIDDEN, AdminChannel, AuditEvent, CredentialType
from sekisho.errors import SekishoError
from tests.unit.fakes import FakeRandom

ACCOUNT = "111122223333"
REGION = "us-east-1"
STORE = "arn:aws:identitystore::111122223333:identitystore/d-1234567890"
USER = "544894e8-80c1-707f-60e3-3ba6510dfac1"
SESSION = "90e292de-5eb8-446e-9602-90f7c45044f7"
WORKFLOW = "adbf67c4-8188-4e2b-8527-fe539e328fa7"
NOW = datetime(2026, 11, 27, 9, 0, 0, 123456, tzinfo=UTC)
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

COMMON: dict[str, Any] = {"source_ip": "203.0.113.0", "user_agent": "Mozilla/5.0", "now": NOW}

DOC_EXAMPLE = json.loads(
    """{"eventVersion":"1.11","userIdentity":{"type":"IdentityCenterUser","accountId":"111122223333","onBehalfOf":{"userId":"544894e8-80c1-707f-60e3-3ba6510dfac1","identityStoreArn":"arn:aws:identitystore::111122223333:identitystore/d-1234567890"},"credentialId":"90e292de-5eb8-446e-9602-90f7c45044f7"},"eventTime":"2020-12-08T18:56:21Z","eventSource":"signin.amazonaws.com","eventName":"CredentialVerification","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.0","userAgent":"Mozilla/5.0 (Macintosh; ...)","requestParameters":null,"responseElements":null,"additionalEventData":{"AuthWorkflowID":"adbf67c4-8188-4e2b-8527-fe539e328fa7","CredentialType":"PASSWORD"},"requestID":"04528c82-a678-4a1f-a56d-ea2c6445a72a","eventID":"9160fe06-fc2a-474f-9b78-000ee067a09d","readOnly":false,"eventType":"AwsServiceEvent","managementEvent":true,"eventCategory":"Management","recipientAccountId":"111122223333","serviceEventDetails":{"CredentialVerification":"Failure"}}"""  # noqa: E501
)


def export(event: AuditEvent) -> dict[str, Any]:
    record = records.to_cloudtrail(event, account_id=ACCOUNT, region=REGION)
    json.dumps(record)  # always serialisable
    return record


def test_credential_verification_matches_the_documented_record_exactly() -> None:
    event = records.credential_verification(
        credential_type="PASSWORD",
        success=False,
        workflow_id=WORKFLOW,
        user_uid=USER,
        identity_store_arn=STORE,
        session_id=SESSION,
        source_ip="203.0.113.0",
        user_agent="Mozilla/5.0 (Macintosh; ...)",
        now=datetime(2020, 12, 8, 18, 56, 21, 654321, tzinfo=UTC),
        request_id="04528c82-a678-4a1f-a56d-ea2c6445a72a",
        random=FakeRandom(uuids=["9160fe06-fc2a-474f-9b78-000ee067a09d"]),
    )
    record = export(event)
    assert record == DOC_EXAMPLE
    assert list(record) == list(DOC_EXAMPLE)
    assert list(record["userIdentity"]) == list(DOC_EXAMPLE["userIdentity"])


def test_envelope_always_has_the_fixed_fields() -> None:
    record = export(
        records.logout(user_uid=USER, identity_store_arn=STORE, session_id=None, **COMMON)
    )
    assert record["eventVersion"] == "1.11"
    assert record["eventTime"] == "2026-11-27T09:00:00Z"
    assert record["awsRegion"] == REGION
    assert record["recipientAccountId"] == ACCOUNT
    assert record["managementEvent"] is True
    assert record["eventCategory"] == "Management"
    assert record["requestParameters"] is None
    assert record["responseElements"] is None
    assert UUID.match(record["eventID"])
    assert UUID.match(record["requestID"])
    assert "errorCode" not in record and "errorMessage" not in record
    assert "additionalEventData" not in record


def test_event_time_is_converted_to_utc_whole_seconds() -> None:
    tokyo = datetime(2026, 11, 27, 18, 0, 5, 999999, tzinfo=timezone(timedelta(hours=9)))
    event = records.logout(
        user_uid=USER,
        identity_store_arn=STORE,
        session_id=None,
        source_ip="x",
        user_agent="y",
        now=tokyo,
    )
    assert export(event)["eventTime"] == "2026-11-27T09:00:05Z"


def test_naive_times_are_refused() -> None:
    with pytest.raises(AuditError):
        records.logout(
            user_uid=USER,
            identity_store_arn=STORE,
            session_id=None,
            source_ip="x",
            user_agent="y",
            now=datetime(2026, 1, 1),
        )


@pytest.mark.parametrize("account", ["", "12345678901", "1111222233334", "abcdefghijkl"])
def test_account_id_must_be_twelve_digits(account: str) -> None:
    event = records.logout(user_uid=USER, identity_store_arn=STORE, session_id=None, **COMMON)
    with pytest.raises(AuditError):
        records.to_cloudtrail(event, account_id=account, region=REGION)


def test_region_must_be_set() -> None:
    event = records.logout(user_uid=USER, identity_store_arn=STORE, session_id=None, **COMMON)
    with pytest.raises(AuditError):
        records.to_cloudtrail(event, account_id=ACCOUNT, region="")


# --- identities ---------------------------------------------------------------------------


def test_user_identity_known_and_unknown() -> None:
    assert records.user_identity(
        user_uid=USER, account_id=ACCOUNT, identity_store_arn=STORE, session_id=SESSION
    ) == {
        "type": "IdentityCenterUser",
        "accountId": ACCOUNT,
        "onBehalfOf": {"userId": USER, "identityStoreArn": STORE},
        "credentialId": SESSION,
    }
    assert records.user_identity(
        user_uid=None, account_id=ACCOUNT, identity_store_arn=STORE, session_id=SESSION
    ) == {"type": "Unknown", "accountId": ACCOUNT}
    without_session = records.user_identity(
        user_uid=USER, account_id=ACCOUNT, identity_store_arn=STORE, session_id=None
    )
    assert "credentialId" not in without_session
    assert "userName" not in without_session


def test_unknown_user_events_have_unknown_identity() -> None:
    event = records.credential_verification(
        credential_type="PASSWORD",
        success=False,
        workflow_id=WORKFLOW,
        user_uid=None,
        identity_store_arn=STORE,
        **COMMON,
    )
    assert export(event)["userIdentity"] == {"type": "Unknown", "accountId": ACCOUNT}


# --- sign-in steps ------------------------------------------------------------------------


def test_password_challenge_records_the_username_of_an_existing_user() -> None:
    event = records.credential_challenge(
        credential_type="PASSWORD",
        workflow_id=WORKFLOW,
        user_uid=USER,
        identity_store_arn=STORE,
        user_name="alice",
        **COMMON,
    )
    record = export(event)
    assert record["eventSource"] == "signin.amazonaws.com"
    assert record["eventName"] == "CredentialChallenge"
    assert record["eventType"] == "AwsServiceEvent"
    assert record["readOnly"] is False
    assert record["additionalEventData"] == {
        "AuthWorkflowID": WORKFLOW,
        "CredentialType": "PASSWORD",
        "UserName": "alice",
    }
    assert record["serviceEventDetails"] == {"CredentialChallenge": "Success"}


def test_password_challenge_hides_the_typed_name_when_no_such_user_exists() -> None:
    typed = "Tr0ub4dor&3-typed-in-the-wrong-box"
    event = records.credential_challenge(
        credential_type="PASSWORD",
        workflow_id=WORKFLOW,
        user_uid=None,
        identity_store_arn=STORE,
        user_name=typed,
        **COMMON,
    )
    record = export(event)
    assert record["additionalEventData"]["UserName"] == HIDDEN
    assert typed not in json.dumps(record)


def test_totp_challenge_never_carries_a_username() -> None:
    event = records.credential_challenge(
        credential_type=CredentialType.TOTP,
        workflow_id=WORKFLOW,
        user_uid=USER,
        identity_store_arn=STORE,
        **COMMON,
    )
    assert export(event)["additionalEventData"] == {
        "AuthWorkflowID": WORKFLOW,
        "CredentialType": "TOTP",
    }
    with pytest.raises(AuditError):
        records.credential_challenge(
            credential_type="TOTP",
            workflow_id=WORKFLOW,
            user_uid=USER,
            identity_store_arn=STORE,
            user_name="alice",
            **COMMON,
        )


@pytest.mark.parametrize("success", [True, False])
def test_totp_verification_outcome(success: bool) -> None:
    event = records.credential_verification(
        credential_type="TOTP",
        success=success,
        workflow_id=WORKFLOW,
        user_uid=USER,
        identity_store_arn=STORE,
        failure_reason="mfa_reused_code",
        **COMMON,
    )
    record = export(event)
    assert record["serviceEventDetails"] == {
        "CredentialVerification": "Success" if success else "Failure"
    }
    assert "errorMessage" not in record
    assert ("FailureReason" in record["additionalEventData"]) is (not success)


def test_unknown_credential_type_is_refused() -> None:
    with pytest.raises(AuditError, match="PASSWORD"):
        records.credential_verification(
            credential_type="SMS",
            success=True,
            workflow_id=WORKFLOW,
            user_uid=USER,
            identity_store_arn=STORE,
            **COMMON,
        )


def test_user_authentication_lists_every_factor() -> None:
    event = records.user_authentication(
        credential_types=["PASSWORD", CredentialType.TOTP],
        workflow_id=WORKFLOW,
        user_uid=USER,
        identity_store_arn=STORE,
        login_to="https://idp.example.com/apps",
        device_enrollment_required=True,
        session_id=SESSION,
        **COMMON,
    )
    record = export(event)
    assert record["eventName"] == "UserAuthentication"
    assert record["additionalEventData"] == {
        "AuthWorkflowID": WORKFLOW,
        "CredentialType": "PASSWORD,TOTP",
        "LoginTo": "https://idp.example.com/apps",
        "DeviceEnrollmentRequired": "true",
    }
    assert record["serviceEventDetails"] == {"UserAuthentication": "Success"}
    assert record["userIdentity"]["credentialId"] == SESSION


def test_user_authentication_omits_enrollment_flag_when_not_forced() -> None:
    event = records.user_authentication(
        credential_types=["PASSWORD"],
        workflow_id=WORKFLOW,
        user_uid=USER,
        identity_store_arn=STORE,
        login_to="/apps",
        **COMMON,
    )
    assert "DeviceEnrollmentRequired" not in export(event)["additionalEventData"]
    with pytest.raises(AuditError):
        records.user_authentication(
            credential_types=[],
            workflow_id=WORKFLOW,
            user_uid=USER,
            identity_store_arn=STORE,
            login_to="/apps",
            **COMMON,
        )


@pytest.mark.parametrize("scope", ["account", "ip"])
def test_account_locked(scope: str) -> None:
    event = records.account_locked(
        scope=scope,  # type: ignore[arg-type]
        locked_until=NOW + timedelta(minutes=15),
        workflow_id=WORKFLOW,
        user_uid=USER if scope == "account" else None,
        identity_store_arn=STORE,
        **COMMON,
    )
    record = export(event)
    assert record["eventSource"] == "signin.amazonaws.com"
    assert record["eventName"] == "AccountLocked"
    assert record["additionalEventData"] == {
        "Scope": scope,
        "LockedUntil": "2026-11-27T09:15:00Z",
        "LockoutSeconds": 900,
        "AuthWorkflowID": WORKFLOW,
    }


def test_account_locked_refuses_unknown_scopes() -> None:
    with pytest.raises(AuditError):
        records.account_locked(
            scope="address",  # type: ignore[arg-type]
            locked_until=NOW,
            workflow_id=None,
            user_uid=None,
            identity_store_arn=STORE,
            **COMMON,
        )


# --- MFA devices --------------------------------------------------------------------------


def test_mfa_registration_events() -> None:
    started = export(
        records.mfa_registration_started(user_uid=USER, identity_store_arn=STORE, **COMMON)
    )
    assert started["eventSource"] == "sso-directory.amazonaws.com"
    assert started["eventName"] == "StartVirtualMfaDeviceRegistration"
    completed = export(
        records.mfa_registration_completed(
            user_uid=USER, identity_store_arn=STORE, success=True, device_name="Pixel", **COMMON
        )
    )
    assert completed["eventName"] == "CompleteVirtualMfaDeviceRegistration"
    assert completed["serviceEventDetails"] == {"CompleteVirtualMfaDeviceRegistration": "Success"}
    assert completed["requestParameters"] == {"deviceName": "Pixel"}
    failed = export(
        records.mfa_registration_completed(
            user_uid=USER, identity_store_arn=STORE, success=False, **COMMON
        )
    )
    assert failed["serviceEventDetails"] == {"CompleteVirtualMfaDeviceRegistration": "Failure"}
    webauthn = export(
        records.mfa_registration_started(
            user_uid=USER, identity_store_arn=STORE, credential_type="WEBAUTHN", **COMMON
        )
    )
    assert webauthn["eventName"] == "StartWebAuthnDeviceRegistration"
    with pytest.raises(AuditError):
        records.mfa_registration_started(
            user_uid=USER, identity_store_arn=STORE, credential_type="PASSWORD", **COMMON
        )


def test_mfa_device_deleted() -> None:
    record = export(
        records.mfa_device_deleted(
            user_uid=USER, identity_store_arn=STORE, device_name="Old phone", **COMMON
        )
    )
    assert record["eventName"] == "DeleteMfaDeviceForUser"
    assert record["requestParameters"] == {"deviceName": "Old phone"}


# --- SSO ----------------------------------------------------------------------------------


def test_sso_issued_is_a_federate_event_with_the_assertion_facts() -> None:
    record = export(
        records.sso_issued(
            application_id="app-1",
            application_name="Amazon Connect",
            name_id="alice",
            acs_url="https://signin.aws.amazon.com/saml",
            in_response_to="_abc123",
            user_uid=USER,
            identity_store_arn=STORE,
            session_id=SESSION,
            **COMMON,
        )
    )
    assert record["eventSource"] == "sso.amazonaws.com"
    assert record["eventName"] == "Federate"
    assert record["eventType"] == "AwsServiceEvent"
    assert record["readOnly"] is True
    assert record["requestParameters"] is None
    assert record["additionalEventData"] == {
        "ApplicationId": "app-1",
        "ApplicationName": "Amazon Connect",
        "NameID": "alice",
        "AssertionConsumerServiceURL": "https://signin.aws.amazon.com/saml",
        "InResponseTo": "_abc123",
    }
    assert record["serviceEventDetails"] == {"Federate": "Success"}


def test_idp_initiated_sso_has_no_in_response_to() -> None:
    record = export(
        records.sso_issued(
            application_id="app-1",
            application_name="Connect",
            name_id="alice",
            acs_url="https://x/acs",
            in_response_to=None,
            user_uid=USER,
            identity_store_arn=STORE,
            **COMMON,
        )
    )
    assert "InResponseTo" not in record["additionalEventData"]


def test_sso_refused_carries_the_reason_code() -> None:
    record = export(
        records.sso_refused(
            reason="policy_denied",
            message="sign-in policy denies 203.0.113.0",
            application_id="app-1",
            user_uid=USER,
            identity_store_arn=STORE,
            **COMMON,
        )
    )
    assert record["eventName"] == "Federate"
    assert record["errorCode"] == "policy_denied"
    assert record["errorMessage"] == "sign-in policy denies 203.0.113.0"
    assert record["serviceEventDetails"] == {"Federate": "Failure"}
    assert record["additionalEventData"] == {"ApplicationId": "app-1"}
    assert list(record).index("errorCode") < list(record).index("requestParameters")
    with pytest.raises(AuditError):
        records.sso_refused(
            reason="", application_id=None, user_uid=None, identity_store_arn=STORE, **COMMON
        )


def test_logout() -> None:
    record = export(
        records.logout(user_uid=USER, identity_store_arn=STORE, session_id=SESSION, **COMMON)
    )
    assert (record["eventSource"], record["eventName"]) == ("sso.amazonaws.com", "Logout")
    assert record["userIdentity"]["credentialId"] == SESSION


# --- admin --------------------------------------------------------------------------------


def test_admin_change_from_the_cli() -> None:
    record = export(
        records.admin_change(
            event_name="CreateUser",
            actor="root",
            parameters={"userName": "alice", "email": "alice@example.com"},
            response={"userId": USER},
            source_ip="127.0.0.1",
            user_agent="sekisho-cli",
            now=NOW,
        )
    )
    assert record["eventSource"] == "sekisho.admin"
    assert record["eventName"] == "CreateUser"
    assert record["eventType"] == "AwsApiCall"
    assert record["readOnly"] is False
    assert record["userIdentity"] == {
        "type": "SekishoAdministrator",
        "accountId": ACCOUNT,
        "principalId": "root",
        "userName": "root",
        "invokedBy": "cli",
    }
    assert record["requestParameters"] == {"userName": "alice", "email": "alice@example.com"}
    assert record["responseElements"] == {"userId": USER}


def test_admin_change_from_the_web_with_resources_and_error() -> None:
    record = export(
        records.admin_change(
            event_name=records.AdminEventName.DELETE_APPLICATION,
            actor="admin@example.com",
            channel=AdminChannel.WEB,
            parameters={"applicationId": "app-1"},
            resources=[{"type": "Sekisho::Application", "ARN": "sekisho:app/app-1"}],
            error_code="ApplicationNotFound",
            error_message="no application app-1",
            **COMMON,
        )
    )
    assert record["userIdentity"]["invokedBy"] == "web"
    assert record["resources"] == [
        {"type": "Sekisho::Application", "accountId": ACCOUNT, "ARN": "sekisho:app/app-1"}
    ]
    assert record["errorCode"] == "ApplicationNotFound"


@pytest.mark.parametrize("name", [n.value for n in records.AdminEventName])
def test_every_admin_event_name_is_accepted(name: str) -> None:
    event = records.admin_change(event_name=name, actor="ops", parameters=None, **COMMON)
    assert event.event_name == name


def test_admin_change_refuses_typos_and_anonymous_actors() -> None:
    with pytest.raises(AuditError):
        records.admin_change(event_name="CreateUsr", actor="ops", parameters=None, **COMMON)
    with pytest.raises(AuditError):
        records.admin_change(event_name="CreateUser", actor="", parameters=None, **COMMON)


# --- scrubbing ----------------------------------------------------------------------------


def test_scrub_hides_secret_keys_at_any_depth() -> None:
    scrubbed = records.scrub(
        {
            "userName": "alice",
            "Password": "hunter2",
            "newPassword": "hunter3",
            "totpCode": "123456",
            "nested": {"clientSecret": "s", "list": [{"accessToken": "t"}, {"ok": 1}]},
            "SAMLResponse": "PHNhbWxwOlJlc3BvbnNl",
            "signatureValue": "sig",
            "otpauthUri": "otpauth://...",
            "passcode": "9999",
        }
    )
    assert scrubbed == {
        "userName": "alice",
        "Password": HIDDEN,
        "newPassword": HIDDEN,
        "totpCode": HIDDEN,
        "nested": {"clientSecret": HIDDEN, "list": [{"accessToken": HIDDEN}, {"ok": 1}]},
        "SAMLResponse": HIDDEN,
        "signatureValue": HIDDEN,
        "otpauthUri": HIDDEN,
        "passcode": HIDDEN,
    }


def test_scrub_does_not_mutate_its_input() -> None:
    original = {"password": "x", "inner": {"token": "y"}}
    records.scrub(original)
    assert original == {"password": "x", "inner": {"token": "y"}}


def test_events_are_scrubbed_even_when_built_directly() -> None:
    event = AuditEvent(
        event_id="e",
        event_time=NOW,
        event_source="s",
        event_name="n",
        event_type="AwsApiCall",
        source_ip="1.2.3.4",
        user_agent="ua",
        user_identity={"type": "Unknown", "sessionToken": "tok"},
        request_parameters={"password": "pw-1"},
        response_elements={"credentials": {"sessionToken": "tok-2", "accessKeyId": "AKIA"}},
        additional_event_data={"code": "123456"},
        service_event_details={"secret": "s3"},
        resources=({"type": "t", "signature": "sig"},),
    )
    text = json.dumps(export(event))
    for secret in ("pw-1", "tok", "tok-2", "123456", "s3", "sig"):
        assert f'"{secret}"' not in text
    assert '"AKIA"' in text


def test_events_copy_their_inputs() -> None:
    params: dict[str, Any] = {"userName": "alice", "groups": ["a"]}
    event = records.admin_change(event_name="UpdateUser", actor="ops", parameters=params, **COMMON)
    params["userName"] = "mallory"
    params["groups"].append("admins")
    assert export(event)["requestParameters"] == {"userName": "alice", "groups": ["a"]}
    exported = export(event)
    exported["requestParameters"]["userName"] = "changed"
    assert export(event)["requestParameters"]["userName"] == "alice"


def test_non_json_values_are_refused_and_datetimes_formatted() -> None:
    with pytest.raises(AuditError):
        records.admin_change(
            event_name="UpdateUser", actor="ops", parameters={"x": object()}, **COMMON
        )
    event = records.admin_change(
        event_name="UpdateUser", actor="ops", parameters={"expires": NOW}, **COMMON
    )
    assert export(event)["requestParameters"] == {"expires": "2026-11-27T09:00:00Z"}


def test_field_names_used_by_constructors_are_not_scrubbed_by_accident() -> None:
    for key in (
        "AuthWorkflowID",
        "CredentialType",
        "UserName",
        "LoginTo",
        "DeviceEnrollmentRequired",
        "FailureReason",
        "Scope",
        "LockedUntil",
        "LockoutSeconds",
        "ApplicationId",
        "ApplicationName",
        "NameID",
        "AssertionConsumerServiceURL",
        "InResponseTo",
        "deviceName",
        "credentialId",
        "onBehalfOf",
        "identityStoreArn",
        "principalId",
        "invokedBy",
    ):
        assert not records.SECRET_KEY_PATTERN.search(key), key


PASSWORD = "correct-horse-battery-staple-42"
TOTP_CODE = "482913"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SECRETS = (PASSWORD, TOTP_CODE, TOTP_SECRET)


def all_events() -> list[AuditEvent]:
    """Every constructor, fed secrets wherever a caller could put them by mistake."""
    leaky = {
        "password": PASSWORD,
        "newPassword": PASSWORD,
        "code": TOTP_CODE,
        "totpSecret": TOTP_SECRET,
        "nested": [{"otp": TOTP_CODE}, {"SAMLResponse": PASSWORD}],
    }
    ids: dict[str, Any] = {"identity_store_arn": STORE, **COMMON}
    makers: list[Callable[[], AuditEvent]] = [
        lambda: records.credential_challenge(
            credential_type="PASSWORD",
            workflow_id=WORKFLOW,
            user_uid=None,
            user_name=PASSWORD,
            **ids,
        ),
        lambda: records.credential_challenge(
            credential_type="TOTP", workflow_id=WORKFLOW, user_uid=USER, **ids
        ),
        lambda: records.credential_verification(
            credential_type="TOTP", success=False, workflow_id=WORKFLOW, user_uid=USER, **ids
        ),
        lambda: records.user_authentication(
            credential_types=["PASSWORD", "TOTP"],
            workflow_id=WORKFLOW,
            user_uid=USER,
            login_to="/apps",
            **ids,
        ),
        lambda: records.account_locked(
            scope="account", locked_until=NOW, workflow_id=None, user_uid=USER, **ids
        ),
        lambda: records.mfa_registration_started(user_uid=USER, **ids),
        lambda: records.mfa_registration_completed(user_uid=USER, success=True, **ids),
        lambda: records.mfa_device_deleted(user_uid=USER, **ids),
        lambda: records.sso_issued(
            application_id="a",
            application_name="b",
            name_id="alice",
            acs_url="https://x/acs",
            in_response_to="_r",
            user_uid=USER,
            **ids,
        ),
        lambda: records.sso_refused(
            reason="not_assigned", application_id="a", user_uid=USER, **ids
        ),
        lambda: records.logout(user_uid=USER, session_id=SESSION, **ids),
        lambda: records.admin_change(
            event_name="SetPassword",
            actor="ops",
            parameters={"userName": "alice", **leaky},
            response=leaky,
            resources=[{"type": "User", **leaky}],
            **COMMON,
        ),
        lambda: records.admin_change(
            event_name="ResetMfa", actor="ops", parameters={"userName": "alice", **leaky}, **COMMON
        ),
    ]
    return [make() for make in makers]


def test_no_password_code_or_secret_appears_in_any_serialised_record() -> None:
    events = all_events()
    assert len(events) == 13
    for event in events:
        text = json.dumps(export(event))
        for secret in SECRETS:
            assert secret not in text, (event.event_name, secret)


secret_words = st.sampled_from(
    ["password", "Passcode", "code", "TOKEN", "secret", "Signature", "SAMLResponse", "otp"]
)
safe_keys = st.text(alphabet="abfghijklmuvwxyz", min_size=1, max_size=8)
marker = st.integers(min_value=10**8, max_value=10**9).map(lambda i: f"SECRET{i}")


@st.composite
def leaky_mapping(draw: st.DrawFn, depth: int = 0) -> tuple[dict[str, Any], list[str]]:
    out: dict[str, Any] = {}
    planted: list[str] = []
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        if draw(st.booleans()):
            key = draw(safe_keys) + draw(secret_words) + draw(safe_keys)
            value = draw(marker)
            out[key] = value if draw(st.booleans()) else {"inner": value, "list": [value]}
            planted.append(value)
        elif depth < 2:
            inner, more = draw(leaky_mapping(depth + 1))
            out[draw(safe_keys)] = inner if draw(st.booleans()) else [inner]
            planted.extend(more)
    return out, planted


@given(leaky_mapping())
def test_scrub_property_no_planted_secret_survives(
    sample: tuple[dict[str, Any], list[str]],
) -> None:
    mapping, planted = sample
    text = json.dumps(records.scrub(mapping))
    for value in planted:
        assert value not in text


def test_audit_error_is_a_sekisho_error() -> None:
    assert issubclass(AuditError, SekishoError)
