"""Writes audit events (sekisho.audit.records) to the append-only table, and reads them back."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.db import connection, transaction

from sekisho.audit import records
from sekisho.audit.models import AuditRecord
from sekisho.audit.records import AuditEvent, to_cloudtrail
from sekisho.clock import Clock
from sekisho.instance import cached_master_key

log = logging.getLogger("sekisho.audit")

REGION = "local"


@dataclass(frozen=True)
class RequestContext:
    """Who is asking and from where, for every audit event of one request."""

    source_ip: str
    user_agent: str = ""
    session_id: str | None = None
    secure_transport: bool = False


@dataclass(frozen=True)
class Actor:
    """Who performs an administrative change (for the audit trail).

    ``name`` says who and through which face (``cli:root``, ``console:alice``,
    ``api:terraform``); ``channel`` is that face as CloudTrail's ``invokedBy``.
    """

    name: str
    context: RequestContext
    channel: records.AdminChannel = records.AdminChannel.CLI


def account_id() -> str:
    """A stable 12-digit pseudo account ID of this IdP (CloudTrail's recipientAccountId)."""
    digest = hashlib.sha256(b"sekisho/account-id/" + cached_master_key()).digest()
    return str(int.from_bytes(digest[:8], "big") % 10**12).zfill(12)


def identity_store_arn() -> str:
    """The identity store ARN used in userIdentity.onBehalfOf."""
    digest = hashlib.sha256(b"sekisho/identity-store/" + cached_master_key()).hexdigest()
    return f"arn:aws:identitystore::{account_id()}:identitystore/d-{digest[:10]}"


Listener = Callable[[Mapping[str, Any]], None]

# Called with each stored record once it is committed (sekisho.ops counts metrics here).
# Listeners are registered by contexts above audit, so audit never imports them.
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> None:
    """Call ``listener`` with every record emitted from now on, after its transaction commits.

    A record whose transaction rolls back was never stored, so no listener hears of it;
    a listener's failure is logged and never reaches the caller of ``emit``.
    """
    if listener not in _listeners:
        _listeners.append(listener)


def unsubscribe(listener: Listener) -> None:
    """Stop calling ``listener`` (tests)."""
    if listener in _listeners:
        _listeners.remove(listener)


def _notify(record: Mapping[str, Any]) -> None:
    for listener in tuple(_listeners):
        try:
            listener(record)
        except Exception:  # a metric must never break an audited decision
            log.exception("audit listener %s failed", getattr(listener, "__name__", listener))


def outcome(record: Mapping[str, Any]) -> str:
    """``Success`` or ``Failure`` of a CloudTrail-format record (the stored outcome column)."""
    details = record.get("serviceEventDetails") or {}
    for value in details.values():
        if value in ("Success", "Failure"):
            return str(value)
    responses = record.get("responseElements") or {}
    if isinstance(responses, dict):
        for value in responses.values():
            if value in ("Success", "Failure"):
                return str(value)
    return "Failure" if record.get("errorCode") else "Success"


_COLUMNS = (
    "event_id",
    "event_time",
    "event_source",
    "event_name",
    "outcome",
    "user_uid",
    "source_ip",
    "record",
)
_INSERTS: dict[str, tuple[str, list[Any]]] = {}


def _insert(values: tuple[Any, ...]) -> None:
    """One INSERT of an audit row, its statement and fields planned once per database.

    Values are adapted by the model's own fields. The ORM's save (an instance, signals,
    compiling the INSERT) cost more than the insert (README, Performance); an INSERT
    cannot rewrite a record, so the model's append-only rule holds.
    """
    planned = _INSERTS.get(connection.vendor)
    if planned is None:
        by_name = {field.name: field for field in AuditRecord._meta.concrete_fields}
        fields = [by_name[name] for name in _COLUMNS]
        quote = connection.ops.quote_name
        sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608 - the model's own names
            quote(AuditRecord._meta.db_table),
            ", ".join(quote(str(field.column)) for field in fields),
            ", ".join(["%s"] * len(fields)),
        )
        planned = _INSERTS[connection.vendor] = (sql, fields)
    sql, fields = planned
    params = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields, values, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def emit(event: AuditEvent) -> dict[str, Any]:
    """Append one event and return its CloudTrail-format record."""
    record = to_cloudtrail(event, account_id=account_id(), region=REGION)
    identity = record.get("userIdentity") or {}
    user_uid = str((identity.get("onBehalfOf") or {}).get("userId") or "")
    result = outcome(record)
    _insert(
        (
            record["eventID"],
            event.event_time,
            record["eventSource"],
            record["eventName"],
            result,
            user_uid,
            str(record.get("sourceIPAddress") or ""),
            record,
        )
    )
    log.info("audit %s %s %s", record["eventSource"], record["eventName"], result)
    if _listeners:
        transaction.on_commit(partial(_notify, record))
    return record


def admin_audit(actor: Actor, event_name: str, parameters: dict[str, object], clock: Clock) -> None:
    """Record an administrative change made by an actor (CLI, console, API or demo)."""
    emit(
        records.admin_change(
            event_name=event_name,
            actor=actor.name,
            channel=actor.channel,
            parameters=parameters,
            source_ip=actor.context.source_ip,
            user_agent=actor.context.user_agent,
            now=clock.now(),
        )
    )


def tail(after_id: int = 0, limit: int | None = None) -> Iterator[tuple[int, str]]:
    """Records after a row id, oldest first, as (row id, JSON line)."""
    rows = AuditRecord.objects.filter(id__gt=after_id).order_by("id")
    if limit is not None:
        total = rows.count()
        rows = rows[max(total - limit, 0) :]
    for row in rows:
        yield row.id, json.dumps(row.record, ensure_ascii=False, sort_keys=False)
