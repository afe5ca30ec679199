"""Who is using the console, and the one audited access decision before every page and action."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from sekisho.admin import access
from sekisho.admin.roles import ROLE_PERMISSIONS, Permission, Role, roles_of
from sekisho.audit.records import AdminChannel
from sekisho.directory.models import User
from sekisho.portal.timezones import shown_in_zone_of
from sekisho.web.errors import error_page
from sekisho.web.http import request_context, signin_redirect, step_up_redirect
from sekisho.web.session import AuthState, get_auth, reauth_age

NOTICE_KEY = "console_notice"


@dataclass
class Console:
    """One console request: the signed-in administrator, their roles and session facts."""

    request: HttpRequest
    user: User
    auth: AuthState
    principal: access.Principal

    @classmethod
    def of(cls, request: HttpRequest, user: User, auth: AuthState) -> Console:
        """The console's view of a signed-in request."""
        principal = access.Principal(
            name=f"console:{user.username}",
            channel=AdminChannel.WEB,
            roles=roles_of(user),
            context=request_context(request),
        )
        return cls(request=request, user=user, auth=auth, principal=principal)

    @property
    def actor(self) -> Any:
        """The audit actor of changes made here."""
        return self.principal.actor()

    def may(self, permission: Permission) -> bool:
        """Whether the roles allow it (for showing a button; acting still checks)."""
        return any(permission in ROLE_PERMISSIONS[role] for role in self.principal.roles)

    def can(self) -> dict[str, bool]:
        """Every permission as ``users_read``-style keys, for templates."""
        return {p.value.replace(".", "_"): self.may(p) for p in Permission}

    def check(self, permission: Permission) -> HttpResponse | None:
        """Decide (and audit) one action: None when allowed, else the page to answer with."""
        request = self.request
        decision = access.authorize(
            self.principal,
            permission,
            mfa=self.auth.mfa,
            reauth_age=reauth_age(request, time.time()),
            resource=f"{request.method} {request.path}"[:512],
        )
        if decision.allowed:
            return None
        back = request.path if request.method == "POST" else request.get_full_path()
        if decision.reason == access.STEP_UP_REQUIRED:
            return step_up_redirect(back)
        if decision.reason == access.REAUTH_REQUIRED:
            return redirect("/account/verify?" + urlencode({"next": back}))
        return error_page(request, status=403, code="forbidden")

    def notice(self, text: str) -> None:
        """A message for the next page this administrator sees (after a redirect)."""
        self.request.session[NOTICE_KEY] = str(text)

    def take_notice(self) -> str | None:
        """The pending message, once."""
        value = self.request.session.pop(NOTICE_KEY, None)
        return value if isinstance(value, str) else None


View = Callable[..., HttpResponseBase]


def console_page(permission: Permission) -> Callable[[View], View]:
    """A console page: signed in, then ``permission`` decided and audited before the view runs."""

    def decorator(view: View) -> View:
        @wraps(view)
        @require_http_methods(["GET", "HEAD", "POST"])
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            auth = get_auth(request)
            user = request.user
            if auth is None or not isinstance(user, User):
                return signin_redirect(request)
            console = Console.of(request, user, auth)
            refused = console.check(permission)
            if refused is not None:
                return refused
            with shown_in_zone_of(user):
                return view(request, console, *args, **kwargs)

        return wrapper

    return decorator


def role_labels() -> dict[str, str]:
    """The roles as shown on pages (translated)."""
    from django.utils.translation import gettext as _

    return {
        Role.ADMIN.value: _("Administrator"),
        Role.HELPDESK.value: _("Helpdesk"),
        Role.AUDITOR.value: _("Auditor"),
    }
