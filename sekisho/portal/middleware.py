"""Times on pages in the person's time zone: their own choice, else the IdP's."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from sekisho.directory.models import User
from sekisho.directory.services import time_zone_of

Handler = Callable[[HttpRequest], HttpResponse]

# Machine endpoints answer in UTC (ISO 8601) and need no database read for this.
_MACHINE_PREFIXES = ("/aws", "/api/", "/static/", "/saml/sso", "/saml/metadata")


class TimeZoneMiddleware:
    """Activate the zone templates convert times to (Django's ``|date`` under USE_TZ)."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(_MACHINE_PREFIXES):
            return self.get_response(request)
        found = getattr(request, "user", None)
        user = found if isinstance(found, User) else None
        try:
            timezone.activate(zoneinfo.ZoneInfo(time_zone_of(user)))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.activate(zoneinfo.ZoneInfo("UTC"))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
