"""Known browsers: a signed cookie naming the users who completed a sign-in in this browser.

OWASP's "Slow Down Online Guessing Attacks with Device Cookies": a browser that has
completed a sign-in for a user gets its own throttling budget for that user, so guessing
from elsewhere (which locks only unknown browsers) never locks the owner out of the
browsers they use. The cookie grants nothing else: no factor is skipped because of it
(that is the trusted-browser cookie of context-aware MFA, mfa/trust.py).

One cookie per browser carries up to ``MAX_USERS`` users, newest first: contact-centre
desks are shared between shifts. Each entry pairs a user's uid with a random nonce that
names this browser's throttle scope for that user.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.core import signing

COOKIE_NAME = "sekisho_known_browser"
MAX_AGE_SECONDS = 180 * 86400
MAX_USERS = 8
_SALT = "sekisho.directory.known-browser"
_MAX_COOKIE = 4096  # a browser's limit for one cookie; anything larger is not ours
_MAX_FIELD = 64


@dataclass(frozen=True)
class KnownBrowser:
    """The users this browser completed a sign-in for: (uid, nonce) pairs, newest first."""

    entries: tuple[tuple[str, str], ...] = ()

    def nonce_for(self, uid: str) -> str | None:
        """This browser's nonce for the user, or None when it is unknown for them."""
        for known_uid, nonce in self.entries:
            if known_uid == uid:
                return nonce
        return None

    def any_nonce(self) -> str | None:
        """The newest entry's nonce: names the browser before any user is known (passkeys)."""
        return self.entries[0][1] if self.entries else None

    def remember(self, uid: str, new_nonce: Callable[[], str]) -> KnownBrowser:
        """The same browser, with the user first (keeping their nonce, or a new one)."""
        nonce = self.nonce_for(uid) or new_nonce()
        others = tuple(entry for entry in self.entries if entry[0] != uid)
        return KnownBrowser(entries=((uid, nonce), *others)[:MAX_USERS])

    def cookie_value(self) -> str:
        """The signed cookie value (Django's signing, keyed by the instance's secret)."""
        return signing.dumps([list(entry) for entry in self.entries], salt=_SALT, compress=True)


def read(cookie: str | None) -> KnownBrowser:
    """The known-browser cookie's users; an absent, forged or malformed cookie gives none."""
    if not cookie or len(cookie) > _MAX_COOKIE:
        return KnownBrowser()
    try:
        raw = signing.loads(cookie, salt=_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return KnownBrowser()
    if not isinstance(raw, list):
        return KnownBrowser()
    entries = []
    for item in raw[:MAX_USERS]:
        if (
            isinstance(item, list)
            and len(item) == 2
            and all(isinstance(part, str) and 0 < len(part) <= _MAX_FIELD for part in item)
        ):
            entries.append((item[0], item[1]))
    return KnownBrowser(entries=tuple(entries))
