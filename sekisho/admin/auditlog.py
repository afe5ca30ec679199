"""Reading the audit trail for administrators: filters, pages, CloudTrail JSON and CSV exports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from sekisho.admin.errors import InvalidInput
from sekisho.audit.models import AuditRecord
from sekisho.directory.models import User

RESULTS = ("Success", "Failure")
MAX_PAGE = 500
CSV_COLUMNS = (
    "eventTime",
    "eventSource",
    "eventName",
    "outcome",
    "actor",
    "userName",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "eventID",
)
_EXPORT_BATCH = 1000


@dataclass(frozen=True)
class AuditFilter:
    """Which records: by user (username), event name, result, source address and time."""

    user: str = ""
    event: str = ""
    result: str = ""
    source_ip: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def validate(self) -> AuditFilter:
        """Self, or InvalidInput naming the field that cannot be a filter."""
        if self.result and self.result not in RESULTS:
            raise InvalidInput(
                f"result is Success or Failure, got {self.result[:20]!r}", field="result"
            )
        for name in ("user", "event", "source_ip"):
            value = getattr(self, name)
            if len(value) > 256 or not value.isprintable():
                raise InvalidInput(
                    f"{name} must be printable text up to 256 characters", field=name
                )
        if self.since and self.until and self.since > self.until:
            raise InvalidInput("since is after until", field="since")
        return self


def _rows(flt: AuditFilter) -> QuerySet[AuditRecord]:
    flt.validate()
    rows = AuditRecord.objects.all()
    if flt.user:
        user = User.objects.filter(username=flt.user).first()
        match = Q(record__requestParameters__userName=flt.user) | Q(
            record__userIdentity__principalId__in=[
                f"{face}:{flt.user}" for face in ("console", "api", "cli")
            ]
        )
        if user is not None:
            match |= Q(user_uid=str(user.uid))
        rows = rows.filter(match)
    if flt.event:
        rows = rows.filter(event_name=flt.event)
    if flt.result:
        rows = rows.filter(outcome=flt.result)
    if flt.source_ip:
        rows = rows.filter(source_ip=flt.source_ip)
    if flt.since:
        rows = rows.filter(event_time__gte=flt.since)
    if flt.until:
        rows = rows.filter(event_time__lte=flt.until)
    return rows


def page(
    flt: AuditFilter, *, before: int | None = None, limit: int = 50
) -> tuple[list[AuditRecord], int | None]:
    """Records newest first; returns (page, the row id to continue before, or None)."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE}, got {limit}", field="limit")
    rows = _rows(flt).order_by("-id")
    if before is not None:
        rows = rows.filter(id__lt=before)
    found = list(rows[: limit + 1])
    more = len(found) > limit
    found = found[:limit]
    return found, (found[-1].id if more and found else None)


def event_names() -> list[str]:
    """Every event name in the trail (for a filter's choices)."""
    return sorted(set(AuditRecord.objects.values_list("event_name", flat=True).distinct()))


def _batches(flt: AuditFilter) -> Iterator[AuditRecord]:
    last = 0
    rows = _rows(flt).order_by("id")
    while True:
        batch = list(rows.filter(id__gt=last)[:_EXPORT_BATCH])
        if not batch:
            return
        yield from batch
        last = batch[-1].id


def export_json(flt: AuditFilter) -> Iterator[str]:
    """The records as a CloudTrail log file, ``{"Records": [...]}``, oldest first, in chunks."""
    yield '{"Records":['
    first = True
    for row in _batches(flt):
        yield ("" if first else ",") + json.dumps(row.record, ensure_ascii=False)
        first = False
    yield "]}\n"


def actor_of(record: dict[str, Any]) -> str:
    """Who acted: an administrator's name, or the user id of a person."""
    identity = record.get("userIdentity") or {}
    if identity.get("principalId"):
        return str(identity["principalId"])
    behalf = identity.get("onBehalfOf") or {}
    return str(behalf.get("userId") or identity.get("type") or "")


def export_csv(flt: AuditFilter) -> Iterator[str]:
    """The records as CSV (one row each, the columns a spreadsheet needs), oldest first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield "\ufeff" + out.getvalue()
    for row in _batches(flt):
        out.seek(0)
        out.truncate()
        record = row.record
        params = record.get("requestParameters") or {}
        extra = record.get("additionalEventData") or {}
        cells = [
            record.get("eventTime", ""),
            record.get("eventSource", ""),
            record.get("eventName", ""),
            row.outcome,
            actor_of(record),
            (params.get("userName") if isinstance(params, dict) else "")
            or (extra.get("UserName") if isinstance(extra, dict) else "")
            or "",
            record.get("sourceIPAddress", ""),
            record.get("userAgent", ""),
            record.get("errorCode", ""),
            record.get("errorMessage", ""),
            record.get("eventID", ""),
        ]
        writer.writerow(
            [
                "'" + c if isinstance(c, str) and c.startswith(("=", "+", "-", "@")) else c
                for c in cells
            ]
        )
        yield out.getvalue()
