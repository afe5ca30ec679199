"""Times on pages in the person's time zone: their own choice, else the IdP's.

Only pages that show times pay for the lookup (a hot path such as a launch shows none).
"""

from __future__ import annotations

import zoneinfo
from contextlib import AbstractContextManager

from django.utils import timezone

from sekisho.directory.models import User
from sekisho.directory.services import time_zone_of


def zone_for(user: User | None) -> zoneinfo.ZoneInfo:
    """The zone to show times in for this person (UTC if a stored name went stale)."""
    try:
        return zoneinfo.ZoneInfo(time_zone_of(user))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def shown_in_zone_of(user: User | None) -> AbstractContextManager[None]:
    """Render inside this to have Django's ``|date`` convert times to the person's zone."""
    return timezone.override(zone_for(user))
