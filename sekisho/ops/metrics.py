"""Prometheus metrics of one Sekisho node: HTTP, sign-in, MFA, SSO and the emulated AWS side.

Security events are counted from the audit trail itself (``audit_increments`` maps one
stored CloudTrail-format record to the counters it moves; ``sekisho.ops.apps`` subscribes
it to the audit writer), so a metric can never disagree with the audit trail. HTTP
requests are counted by the web layer, calls to the emulated AWS API by its endpoint.

Every label value is bounded: URL patterns (never raw paths), stable reason and error
codes, credential types, and application names an administrator configured. Nothing a
client types (usernames, addresses, free text) ever becomes a label.

Under a multi-process server each worker writes its own files in
``PROMETHEUS_MULTIPROC_DIR`` (prepared by ``sekisho.serving``) and a scrape sums them;
without that variable the counters live in this process only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from sekisho.audit import records
from sekisho.audit.writer import outcome

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The classic text format every Prometheus understands (exposition formats, "Text format").
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
# Label values that came from data are kept only when they look like the codes and names
# Sekisho writes; anything else is "other", so no input can grow the series count.
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
PASSWORD_REASONS = frozenset({"invalid_password", "unknown_user", "user_disabled"})
# A throttled password attempt is refused unchecked (FailureReason throttled_<scope>); the
# scope that locked is in sekisho_lockouts_total.
THROTTLED_PREFIX = "throttled_"
LOCK_SCOPES = frozenset({"browser", "account", "ip"})
MFA_METHODS = {
    records.CredentialType.TOTP.value: "totp",
    records.CredentialType.WEBAUTHN.value: "webauthn",
    records.CredentialType.RADIUS.value: "radius",
    records.CredentialType.RECOVERY_CODE.value: "recovery_code",
}

# _created series would double every family and mean nothing summed over workers.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "sekisho_http_requests",
    "HTTP requests answered, by route (the URL pattern, not the path), method and status code.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "sekisho_http_request_duration_seconds",
    "Time from the request reaching Sekisho to its response, by route, method and status class.",
    ["route", "method", "status_class"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
SIGNINS = Counter(
    "sekisho_signins",
    "Sign-in outcomes: completed sign-ins (result success) and refusals at any step, by reason.",
    ["result", "reason"],
    registry=REGISTRY,
)
LOCKOUTS = Counter(
    "sekisho_lockouts",
    "Sign-in throttles that just locked, by scope (browser, account or ip).",
    ["scope"],
    registry=REGISTRY,
)
MFA_VERIFICATIONS = Counter(
    "sekisho_mfa_verifications",
    "Second-factor (and passkey) answers checked, by method, result and failure reason.",
    ["method", "result", "reason"],
    registry=REGISTRY,
)
SSO_RESPONSES = Counter(
    "sekisho_sso_responses",
    "SAML responses issued or refused, by application and refusal reason.",
    ["app", "result", "reason"],
    registry=REGISTRY,
)
AUDIT_EVENTS = Counter(
    "sekisho_audit_events",
    "Audit records stored, by event source, event name and outcome.",
    ["source", "event", "outcome"],
    registry=REGISTRY,
)
EMULATOR_REQUESTS = Counter(
    "sekisho_emulator_api_requests",
    "Calls to the emulated AWS API at /aws, by service, operation and error code.",
    ["service", "operation", "error_code"],
    registry=REGISTRY,
)

FAMILIES: dict[str, Counter] = {
    "sekisho_signins": SIGNINS,
    "sekisho_lockouts": LOCKOUTS,
    "sekisho_mfa_verifications": MFA_VERIFICATIONS,
    "sekisho_sso_responses": SSO_RESPONSES,
    "sekisho_audit_events": AUDIT_EVENTS,
}


@dataclass(frozen=True)
class Increment:
    """One counter to add 1 to: a family name and its label values."""

    family: str
    labels: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, family: str, **labels: str) -> Increment:
        """An increment of ``family`` with the given labels."""
        return cls(family, tuple(labels.items()))


def label_value(value: object, *, default: str = "other") -> str:
    """A code or name as a label value, or ``default`` when it is not one."""
    if isinstance(value, str) and _LABEL_VALUE.match(value):
        return value
    return default


def _additional(record: Mapping[str, Any]) -> Mapping[str, Any]:
    extra = record.get("additionalEventData")
    return extra if isinstance(extra, Mapping) else {}


def _signin_increments(record: Mapping[str, Any], success: bool) -> list[Increment]:
    name = record.get("eventName")
    extra = _additional(record)
    if name == "UserAuthentication":
        if success:
            return [Increment.of("sekisho_signins", result="success", reason="")]
        # The only refusal written as UserAuthentication is an IdP policy's (records.policy_denied).
        reason = "policy_denied" if record.get("errorCode") == "AccessDenied" else "other"
        return [Increment.of("sekisho_signins", result="failure", reason=reason)]
    if name == "CredentialVerification":
        credential = extra.get("CredentialType")
        failure = str(extra.get("FailureReason") or "")
        found: list[Increment] = []
        if credential != records.CredentialType.PASSWORD.value:
            found.append(
                Increment.of(
                    "sekisho_mfa_verifications",
                    method=MFA_METHODS.get(str(credential), "other"),
                    result="success" if success else "failure",
                    reason="" if success else label_value(failure or "unspecified"),
                )
            )
        if success:
            return found
        if credential == records.CredentialType.PASSWORD.value:
            if failure.startswith(THROTTLED_PREFIX):
                reason = "locked"
            else:
                # Records written before FailureReason existed say only "Failure".
                reason = failure if failure in PASSWORD_REASONS else "invalid_credentials"
        else:
            reason = "mfa_locked" if failure == "mfa_locked" else "mfa_failed"
        found.append(Increment.of("sekisho_signins", result="failure", reason=reason))
        return found
    if name == "AccountLocked":
        scope = extra.get("Scope")
        known = scope if scope in LOCK_SCOPES else "other"
        return [Increment.of("sekisho_lockouts", scope=known)]
    return []


def _sso_increments(record: Mapping[str, Any], success: bool) -> list[Increment]:
    if record.get("eventName") != "Federate":
        return []
    name = _additional(record).get("ApplicationName")
    app = "" if name is None else label_value(name)
    if success:
        return [Increment.of("sekisho_sso_responses", app=app, result="issued", reason="")]
    code = record.get("errorCode")
    # records.policy_denied writes a refused launch as Federate with IAM's AccessDenied.
    reason = "policy_denied" if code == "AccessDenied" else label_value(code)
    return [Increment.of("sekisho_sso_responses", app=app, result="refused", reason=reason)]


def audit_increments(record: Mapping[str, Any]) -> list[Increment]:
    """The counters one stored audit record moves (a pure function of the record).

    Every record counts once in ``sekisho_audit_events``; sign-in records
    (signin.amazonaws.com) also count in ``sekisho_signins``, ``sekisho_mfa_verifications``
    or ``sekisho_lockouts``, and Federate records (sso.amazonaws.com) in
    ``sekisho_sso_responses``. The emulated console's ConsoleLogin shares the sign-in
    source but is the AWS side's, not a Sekisho sign-in.
    """
    result = outcome(record)
    success = result == records.SUCCESS
    found = [
        Increment.of(
            "sekisho_audit_events",
            source=label_value(record.get("eventSource")),
            event=label_value(record.get("eventName")),
            outcome=result,
        )
    ]
    source = record.get("eventSource")
    if source == records.SIGNIN_SOURCE and record.get("eventName") != "ConsoleLogin":
        found.extend(_signin_increments(record, success))
    elif source == records.PORTAL_SOURCE:
        found.extend(_sso_increments(record, success))
    return found


def count_audit_record(record: Mapping[str, Any]) -> None:
    """Add one stored audit record to the counters (the audit writer's listener)."""
    for increment in audit_increments(record):
        FAMILIES[increment.family].labels(**dict(increment.labels)).inc()


def http_labels(route: str, method: str, status: int) -> tuple[str, str, str, str]:
    """(route, method, status, status class) label values of one answered request."""
    verb = method.upper()
    return (
        route,
        verb if verb in HTTP_METHODS else "other",
        str(status),
        f"{status // 100}xx",
    )


def observe_request(*, route: str, method: str, status: int, seconds: float) -> None:
    """Count and time one answered HTTP request; ``route`` is its URL pattern."""
    route_label, method_label, status_label, status_class = http_labels(route, method, status)
    HTTP_REQUESTS.labels(route_label, method_label, status_label).inc()
    HTTP_DURATION.labels(route_label, method_label, status_class).observe(seconds)


def count_emulator_request(*, service: str, operation: str, error_code: str) -> None:
    """Count one call to the emulated AWS API (empty operation or error code: none known)."""
    EMULATOR_REQUESTS.labels(
        label_value(service, default=""),
        label_value(operation, default=""),
        label_value(error_code) if error_code else "",
    ).inc()


def exposition() -> bytes:
    """Every counter of this node in the text format: all workers' when multi-process."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)
