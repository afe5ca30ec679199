"""Metric mappings: which counters each audit record, request and emulated AWS call moves.

The records are built by the same constructors the product uses and exported to the
stored CloudTrail shape, so a change to a record's shape that the metrics do not follow
fails here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sekisho.audit import records
from sekisho.audit.records import AuditEvent
from sekisho.ops import metrics
from sekisho.ops.metrics import Increment, audit_increments

ACCOUNT = "111122223333"
STORE = "arn:aws:identitystore::111122223333:identitystore/d-1234567890"
USER = "544894e8-80c1-707f-60e3-3ba6510dfac1"
WORKFLOW = "adbf67c4-8188-4e2b-8527-fe539e328fa7"
NOW = datetime(2026, 11, 27, 9, 0, 0, tzinfo=UTC)
COMMON: dict[str, Any] = {
    "source_ip": "203.0.113.9",
    "user_agent": "Mozilla/5.0",
    "now": NOW,
    "identity_store_arn": STORE,
}


def export(event: AuditEvent) -> dict[str, Any]:
    return records.to_cloudtrail(event, account_id=ACCOUNT, region="local")


def family(record: dict[str, Any], name: str) -> list[dict[str, str]]:
    """The label sets one record adds to a family (audit events are checked separately)."""
    return [dict(i.labels) for i in audit_increments(record) if i.family == name]


def verification(credential: str, *, success: bool, reason: str | None = None) -> dict[str, Any]:
    return export(
        records.credential_verification(
            credential_type=credential,
            success=success,
            workflow_id=WORKFLOW,
            user_uid=USER,
            failure_reason=reason,
            **COMMON,
        )
    )


# --- sekisho_signins --------------------------------------------------------------------


def test_a_completed_sign_in_is_a_success() -> None:
    record = export(
        records.user_authentication(
            credential_types=["PASSWORD", "TOTP"],
            workflow_id=WORKFLOW,
            user_uid=USER,
            login_to="/apps",
            **COMMON,
        )
    )
    assert family(record, "sekisho_signins") == [{"result": "success", "reason": ""}]


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("invalid_password", "invalid_password"),
        ("unknown_user", "unknown_user"),
        ("user_disabled", "user_disabled"),
        ("throttled_account", "locked"),
        ("throttled_ip", "locked"),
        ("throttled_browser", "locked"),
        (None, "invalid_credentials"),  # records stored before FailureReason existed
        ("something new", "invalid_credentials"),
    ],
)
def test_a_refused_password_counts_with_its_reason(reason: str | None, label: str) -> None:
    record = verification("PASSWORD", success=False, reason=reason)
    assert family(record, "sekisho_signins") == [{"result": "failure", "reason": label}]
    assert family(record, "sekisho_mfa_verifications") == []


def test_a_correct_password_alone_is_not_yet_a_sign_in() -> None:
    record = verification("PASSWORD", success=True)
    assert family(record, "sekisho_signins") == []


def test_a_policy_refusal_at_sign_in_is_policy_denied() -> None:
    record = export(
        records.policy_denied(
            action="sekisho:SignIn",
            resource="arn:sekisho:::user/alice",
            decision="ImplicitDeny",
            explanation="no statement allows sekisho:SignIn from 203.0.113.9",
            matched=[],
            user_uid=USER,
            workflow_id=WORKFLOW,
            **COMMON,
        )
    )
    assert family(record, "sekisho_signins") == [{"result": "failure", "reason": "policy_denied"}]
    assert family(record, "sekisho_sso_responses") == []


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("mfa_invalid_code", "mfa_failed"),
        ("mfa_reused_code", "mfa_failed"),
        ("mfa_locked", "mfa_locked"),
    ],
)
def test_a_wrong_second_factor_is_a_refused_sign_in(code: str, reason: str) -> None:
    record = verification("TOTP", success=False, reason=code)
    assert family(record, "sekisho_signins") == [{"result": "failure", "reason": reason}]


def test_the_emulated_console_login_is_not_a_sekisho_sign_in() -> None:
    record = export(
        records.console_login(
            identity={"type": "SAMLUser"},
            login_to="https://console.aws.amazon.com/",
            saml_provider_arn=None,
            failure_reason="InvalidIdentityToken: expired",
            source_ip="203.0.113.9",
            user_agent="Mozilla/5.0",
            now=NOW,
        )
    )
    assert record["eventSource"] == records.SIGNIN_SOURCE
    assert family(record, "sekisho_signins") == []
    assert [i.family for i in audit_increments(record)] == ["sekisho_audit_events"]


# --- sekisho_lockouts -------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["browser", "account", "ip"])
def test_a_lockout_counts_by_scope(scope: str) -> None:
    record = export(
        records.account_locked(
            scope=scope,  # type: ignore[arg-type]
            locked_until=NOW + timedelta(minutes=15),
            workflow_id=WORKFLOW,
            user_uid=None,
            **COMMON,
        )
    )
    assert family(record, "sekisho_lockouts") == [{"scope": scope}]
    assert family(record, "sekisho_signins") == []


# --- sekisho_mfa_verifications ----------------------------------------------------------


@pytest.mark.parametrize(
    ("credential", "method"),
    [
        ("TOTP", "totp"),
        ("WEBAUTHN", "webauthn"),
        ("RADIUS", "radius"),
        ("RECOVERY_CODE", "recovery_code"),
    ],
)
def test_mfa_verifications_count_by_method_and_result(credential: str, method: str) -> None:
    passed = verification(credential, success=True)
    failed = verification(credential, success=False, reason="mfa_invalid_code")
    assert family(passed, "sekisho_mfa_verifications") == [
        {"method": method, "result": "success", "reason": ""}
    ]
    assert family(failed, "sekisho_mfa_verifications") == [
        {"method": method, "result": "failure", "reason": "mfa_invalid_code"}
    ]


def test_an_mfa_failure_without_a_reason_is_unspecified() -> None:
    record = verification("RADIUS", success=False)
    assert family(record, "sekisho_mfa_verifications") == [
        {"method": "radius", "result": "failure", "reason": "unspecified"}
    ]


# --- sekisho_sso_responses --------------------------------------------------------------


def test_an_issued_response_counts_for_its_application() -> None:
    record = export(
        records.sso_issued(
            application_id="7",
            application_name="connect",
            name_id="alice",
            acs_url="https://signin.aws.amazon.com/saml",
            in_response_to=None,
            user_uid=USER,
            **COMMON,
        )
    )
    assert family(record, "sekisho_sso_responses") == [
        {"app": "connect", "result": "issued", "reason": ""}
    ]
    # The NameID (a username) and the ACS never become labels.
    assert "alice" not in str(audit_increments(record))


def test_a_refused_response_counts_with_its_reason() -> None:
    record = export(
        records.sso_refused(
            reason="app_not_assigned",
            message="connect is not assigned to alice",
            application_id="7",
            application_name="connect",
            user_uid=USER,
            **COMMON,
        )
    )
    assert family(record, "sekisho_sso_responses") == [
        {"app": "connect", "result": "refused", "reason": "app_not_assigned"}
    ]


def test_an_unknown_service_provider_has_no_application_label() -> None:
    record = export(
        records.sso_refused(
            reason="saml_unknown_sp",
            message="no application has the entity ID https://evil.example/sp",
            application_id=None,
            user_uid=None,
            **COMMON,
        )
    )
    assert family(record, "sekisho_sso_responses") == [
        {"app": "", "result": "refused", "reason": "saml_unknown_sp"}
    ]


def test_a_policy_refusal_of_a_launch_is_a_refused_response() -> None:
    record = export(
        records.policy_denied(
            action="sekisho:LaunchApplication",
            resource="arn:sekisho:::application/connect",
            decision="ImplicitDeny",
            explanation="aws:SourceIp 203.0.113.9 is not in 198.51.100.0/24",
            matched=[],
            user_uid=USER,
            application_name="connect",
            **COMMON,
        )
    )
    assert family(record, "sekisho_sso_responses") == [
        {"app": "connect", "result": "refused", "reason": "policy_denied"}
    ]
    assert family(record, "sekisho_signins") == []


def test_a_logout_moves_only_the_audit_count() -> None:
    record = export(records.logout(user_uid=USER, session_id=None, **COMMON))
    assert [i.family for i in audit_increments(record)] == ["sekisho_audit_events"]


# --- sekisho_audit_events ---------------------------------------------------------------


def test_every_record_counts_once_by_source_event_and_outcome() -> None:
    admin = export(
        records.admin_change(
            event_name="CreateUser",
            actor="cli:root",
            parameters={"userName": "alice", "password": "never"},
            source_ip="127.0.0.1",
            user_agent="sekisho-cli",
            now=NOW,
        )
    )
    assert family(admin, "sekisho_audit_events") == [
        {"source": "sekisho.admin", "event": "CreateUser", "outcome": "Success"}
    ]
    failed = verification("PASSWORD", success=False, reason="invalid_password")
    assert family(failed, "sekisho_audit_events") == [
        {"source": "signin.amazonaws.com", "event": "CredentialVerification", "outcome": "Failure"}
    ]
    sts = export(
        records.assume_role_with_saml(
            role_arn="arn:aws:iam::111122223333:role/R",
            principal_arn="arn:aws:iam::111122223333:saml-provider/P",
            account_id=ACCOUNT,
            duration_seconds=3600,
            error_code="ExpiredTokenException",
            error_message="expired",
            source_ip="127.0.0.1",
            user_agent="boto3",
            now=NOW,
        )
    )
    assert family(sts, "sekisho_audit_events") == [
        {"source": "sts.amazonaws.com", "event": "AssumeRoleWithSAML", "outcome": "Failure"}
    ]


def test_counting_a_record_moves_the_registered_counters() -> None:
    record = verification("WEBAUTHN", success=False, reason="mfa_webauthn_unknown_credential")
    labels = {
        "method": "webauthn",
        "result": "failure",
        "reason": "mfa_webauthn_unknown_credential",
    }

    def value() -> float:
        sample = metrics.REGISTRY.get_sample_value("sekisho_mfa_verifications_total", labels)
        return sample or 0.0

    before = value()
    metrics.count_audit_record(record)
    assert value() == before + 1


# --- label hygiene ----------------------------------------------------------------------


@given(st.text(max_size=80))
def test_label_values_are_codes_or_other(value: str) -> None:
    label = metrics.label_value(value)
    assert label == "other" or label == value
    if label == value:
        assert len(value) <= 64 and value.isascii() and " " not in value


def test_strange_codes_and_names_are_folded_into_other() -> None:
    record = export(
        records.sso_refused(
            reason="bad reason with spaces <script>",
            application_id="9",
            application_name="x" * 100,
            user_uid=None,
            **COMMON,
        )
    )
    assert family(record, "sekisho_sso_responses") == [
        {"app": "other", "result": "refused", "reason": "other"}
    ]


def test_increment_labels_keep_their_order() -> None:
    assert Increment.of("f", a="1", b="2").labels == (("a", "1"), ("b", "2"))


# --- sekisho_http_requests and the request duration -------------------------------------


def test_http_labels_bound_methods_and_classify_statuses() -> None:
    assert metrics.http_labels("/signin", "post", 302) == ("/signin", "POST", "302", "3xx")
    assert metrics.http_labels("unmatched", "PROPFIND", 404) == ("unmatched", "other", "404", "4xx")


def test_observing_a_request_counts_and_times_it() -> None:
    counted = {"route": "/apps/<slug:name>/launch", "method": "POST", "status": "200"}
    timed = {"route": "/apps/<slug:name>/launch", "method": "POST", "status_class": "2xx"}
    get = metrics.REGISTRY.get_sample_value
    before = get("sekisho_http_requests_total", counted) or 0.0
    fast = get("sekisho_http_request_duration_seconds_bucket", {**timed, "le": "0.05"}) or 0.0
    metrics.observe_request(route=counted["route"], method="POST", status=200, seconds=0.2)
    assert get("sekisho_http_requests_total", counted) == before + 1
    assert (get("sekisho_http_request_duration_seconds_bucket", {**timed, "le": "0.25"}) or 0) >= 1
    assert (
        get("sekisho_http_request_duration_seconds_bucket", {**timed, "le": "0.05"}) or 0
    ) == fast


# --- sekisho_emulator_api_requests ------------------------------------------------------


def test_emulator_calls_count_by_service_operation_and_error_code() -> None:
    labels = {"service": "iam", "operation": "GetRole", "error_code": "NoSuchEntity"}
    get = metrics.REGISTRY.get_sample_value
    before = get("sekisho_emulator_api_requests_total", labels) or 0.0
    metrics.count_emulator_request(service="iam", operation="GetRole", error_code="NoSuchEntity")
    assert get("sekisho_emulator_api_requests_total", labels) == before + 1
    odd = {"service": "", "operation": "", "error_code": "other"}
    before = get("sekisho_emulator_api_requests_total", odd) or 0.0
    metrics.count_emulator_request(service="", operation="", error_code="Not a code!")
    assert get("sekisho_emulator_api_requests_total", odd) == before + 1


def test_the_exposition_is_the_text_format() -> None:
    text = metrics.exposition().decode()
    assert "# TYPE sekisho_signins_total counter" in text
    assert "# TYPE sekisho_http_request_duration_seconds histogram" in text
    assert "_created" not in text
