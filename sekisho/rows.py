"""Single rows read in plain SQL into models: the reads every signed-in request makes.

The ORM compiling these small queries cost more than running them, and a raw queryset's
per-query column mapping nearly as much (README, Performance). Here each statement and
its columns' converters are worked out once per model, condition and database; values
still pass through the same converters the ORM applies, so a row reads as the ORM reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class _Plan:
    sql: str
    attnames: list[str]
    columns: list[Any]  # the Col expressions the converters are called with
    converters: list[list[Callable[..., Any]]]


_PLANS: dict[tuple[type[models.Model], str, str], _Plan] = {}


def _plan(model: type[models.Model], where: str) -> _Plan:
    fields = list(model._meta.concrete_fields)
    quote = connection.ops.quote_name
    table = model._meta.db_table
    columns = [field.get_col(table) for field in fields]
    return _Plan(
        sql="SELECT {} FROM {} WHERE {}".format(  # noqa: S608 - the model's names, a fixed condition
            ", ".join(quote(str(field.column)) for field in fields), quote(table), where
        ),
        attnames=[field.attname for field in fields],
        columns=columns,
        converters=[
            connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            for column in columns
        ],
    )


def _planned(model: type[models.Model], where: str) -> _Plan:
    key = (model, connection.vendor, where)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = _plan(model, where)
    return plan


def _instance(model: type[M], plan: _Plan, row: Sequence[Any]) -> M:
    values = []
    for value, column, converters in zip(row, plan.columns, plan.converters, strict=True):
        for convert in converters:
            value = convert(value, column, connection)
        values.append(value)
    return model.from_db(connection.alias, plan.attnames, values)


def first(model: type[M], where: str, params: Sequence[Any]) -> M | None:
    """The first ``model`` row matching ``where`` (fixed SQL with %s placeholders), or None.

    ``where`` must be a constant of the caller's code: only ``params`` carry values.
    """
    plan = _planned(model, where)
    with connection.cursor() as cursor:
        cursor.execute(plan.sql, list(params))
        row = cursor.fetchone()
    return None if row is None else _instance(model, plan, row)


def up_to(limit: int, model: type[M], where: str, params: Sequence[Any]) -> list[M]:
    """At most ``limit`` ``model`` rows matching ``where``, in no particular order.

    For "is there exactly one?": ``where`` must be a constant of the caller's code.
    """
    plan = _planned(model, where)
    with connection.cursor() as cursor:
        cursor.execute(plan.sql + " LIMIT %s", [*params, limit])
        found = cursor.fetchall()
    return [_instance(model, plan, row) for row in found]
