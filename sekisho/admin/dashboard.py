"""Dashboard figures, counted from the audit trail with the metrics' own classification.

``sekisho.ops.metrics.audit_increments`` decides what a record counts as (a sign-in
success, a refusal and its reason, a launch); the dashboard only adds the last 24 hours
up, so the console, /metrics and the audit trail can never disagree.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sekisho.audit import records
from sekisho.audit.models import AuditRecord
from sekisho.clock import SYSTEM_CLOCK, Clock
from sekisho.ops.metrics import audit_increments

HOURS = 24
TOP = 10

# Refusal reasons (the metrics' label values) grouped as an administrator reads them.
REFUSAL_GROUPS = {
    "policy_denied": "policy",
    "mfa_failed": "mfa",
    "mfa_locked": "lockout",
    "locked": "lockout",
    "invalid_password": "password",
    "unknown_user": "password",
    "user_disabled": "password",
    "invalid_credentials": "password",
}
REFUSAL_ORDER = ("policy", "mfa", "lockout", "password", "other")


@dataclass(frozen=True)
class HourBucket:
    """Sign-ins that started in one hour: completed and refused."""

    start: datetime
    success: int
    failure: int


@dataclass(frozen=True)
class Figures:
    """The dashboard's numbers for the 24 hours up to ``until``."""

    since: datetime
    until: datetime
    hours: list[HourBucket]
    signins_ok: int
    signins_refused: int
    refusals: list[tuple[str, int]]
    sources: list[tuple[str, int]]
    launches: list[tuple[str, int, int]]


def figures(*, clock: Clock = SYSTEM_CLOCK) -> Figures:
    """Count the last 24 hours of sign-ins, refusals, source addresses and launches."""
    until = clock.now()
    since = until - timedelta(hours=HOURS)
    first_hour = since.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    ok = [0] * HOURS
    bad = [0] * HOURS
    refusals: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    issued: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    rows = AuditRecord.objects.filter(
        event_time__gt=since,
        event_time__lte=until,
        event_source__in=(records.SIGNIN_SOURCE, records.PORTAL_SOURCE),
        event_name__in=("UserAuthentication", "CredentialVerification", "Federate"),
    ).values_list("event_time", "source_ip", "record")
    for when, source_ip, record in rows.iterator(chunk_size=2000):
        slot = min(HOURS - 1, max(0, int((when - first_hour).total_seconds() // 3600) + 1))
        extra = record.get("additionalEventData") or {}
        if (
            record.get("eventName") == "CredentialVerification"
            and extra.get("CredentialType") == records.CredentialType.PASSWORD.value
            and source_ip
        ):
            sources[source_ip] += 1
        for increment in audit_increments(record):
            labels = dict(increment.labels)
            if increment.family == "sekisho_signins":
                if labels["result"] == "success":
                    ok[slot] += 1
                else:
                    bad[slot] += 1
                    refusals[REFUSAL_GROUPS.get(labels["reason"], "other")] += 1
            elif increment.family == "sekisho_sso_responses":
                app = labels["app"] or "-"
                if labels["result"] == "issued":
                    issued[app] += 1
                else:
                    refused[app] += 1
                    if labels["reason"] == "policy_denied":
                        refusals["policy"] += 1
    hours = [
        HourBucket(start=first_hour + timedelta(hours=i - 1), success=ok[i], failure=bad[i])
        for i in range(HOURS)
    ]
    apps = sorted(set(issued) | set(refused), key=lambda a: (-(issued[a] + refused[a]), a))
    return Figures(
        since=since,
        until=until,
        hours=hours,
        signins_ok=sum(ok),
        signins_refused=sum(bad),
        refusals=[(name, refusals[name]) for name in REFUSAL_ORDER if refusals[name]],
        sources=sources.most_common(TOP),
        launches=[(app, issued[app], refused[app]) for app in apps[:TOP]],
    )
