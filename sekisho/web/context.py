"""Template context shared by every page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def sekisho(request: HttpRequest) -> dict[str, Any]:
    """Languages for the switcher and whether someone is signed in."""
    auth = request.session.get("auth") if hasattr(request, "session") else None
    return {
        "sekisho_languages": settings.LANGUAGES,
        "sekisho_signed_in": isinstance(auth, dict),
        "sekisho_path": request.get_full_path(),
    }
