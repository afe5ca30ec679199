"""What every console page shares: rendering with the nav, error display, form values."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import render

from sekisho.console.guard import Console
from sekisho.console.messages import explain
from sekisho.directory.rules import time_zones
from sekisho.errors import SekishoError

STATUS_BY_CODE = {"not_found": 404, "user_not_found": 404, "group_not_found": 404}


def page(
    console: Console,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    section: str,
    status: int = 200,
    error: SekishoError | None = None,
) -> HttpResponse:
    """Render ``console/<template>`` with the navigation and any pending notice or error."""
    data: dict[str, Any] = {
        "can": console.can(),
        "notice": console.take_notice(),
        "section": section,
        "me": console.user,
    }
    if error is not None:
        data["error"], data["error_detail"] = explain(error)
        status = status if status != 200 else STATUS_BY_CODE.get(error.code, 400)
    data.update(context or {})
    return render(console.request, f"console/{template}", data, status=status)


def field(console: Console, name: str, limit: int = 256) -> str:
    """A posted form field, bounded in size."""
    return str(console.request.POST.get(name, ""))[: limit + 1]


def zones() -> tuple[str, ...]:
    """Every time zone for a select box."""
    return time_zones()
