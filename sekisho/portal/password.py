"""First sign-in with a temporary password: the person chooses their own before any session."""

from __future__ import annotations

from collections.abc import Iterable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from sekisho.directory import errors as directory_errors
from sekisho.directory import rules
from sekisho.directory import services as directory
from sekisho.directory.models import User
from sekisho.mfa.services import password_is_only_factor
from sekisho.portal.session import SignInFlow, clear_flow, get_flow, put_flow
from sekisho.portal.views import complete_sign_in
from sekisho.saml import services as saml
from sekisho.web.http import request_context


def password_problem_messages(problems: Iterable[object]) -> list[str]:
    """Each password problem (directory.rules.PasswordProblem) in the person's language."""
    messages = []
    for problem in problems:
        if not isinstance(problem, rules.PasswordProblem):
            continue
        params = dict(problem.params)
        if problem.code == "password_too_short":
            text = _("Use at least %(min_length)d characters (this has %(length)d).") % params
        elif problem.code == "password_too_long":
            text = _("Use at most %(max_length)d characters (this has %(length)d).") % params
        elif problem.code == "password_contains_username":
            text = _("Do not use your username in the password.")
        elif problem.code == "password_contains_email":
            text = _("Do not use your email address in the password.")
        elif problem.code == "password_too_common":
            text = _("This password is too common; choose one that is hard to guess.")
        elif problem.code == "password_repetitive":
            text = _("Do not use a repeated character or a simple sequence such as abcdef.")
        else:
            text = problem.message
        messages.append(text)
    return messages


def _pending(request: HttpRequest) -> tuple[SignInFlow, User] | None:
    """The sign-in that passed every factor and now needs a new password."""
    flow = get_flow(request)
    if flow is None or not flow.password_change:
        return None
    user = User.objects.filter(pk=flow.user_id).first()
    if user is None or not user.is_active or not user.must_change_password:
        return None
    return flow, user


@require_http_methods(["GET", "HEAD", "POST"])
def change_password(request: HttpRequest) -> HttpResponse:
    """Choose a new password in place of the temporary one, then finish signing in."""
    found = _pending(request)
    if found is None:
        return redirect("/signin")
    flow, user = found
    context: dict[str, object] = {
        "min_length": rules.PASSWORD_MIN_SINGLE_FACTOR
        if password_is_only_factor()
        else rules.PASSWORD_MIN,
        "username": user.username,
    }
    if request.method != "POST":
        return render(request, "sekisho/change_password.html", context)
    new = request.POST.get("new_password", "")[:1024]
    repeat = request.POST.get("repeat_password", "")[:1024]
    errors: list[str] = []
    if new != repeat:
        errors.append(_("The two passwords differ."))
    else:
        try:
            directory.change_own_password(
                user,
                new,
                password_only_factor=password_is_only_factor(),
                context=request_context(request),
                workflow_id=flow.workflow_id,
                clock=saml.clock(),
            )
        except directory_errors.WeakPassword as exc:
            errors = password_problem_messages(exc.problems)
        except directory_errors.PasswordReused:
            errors.append(_("Choose a password different from the temporary one."))
    if errors:
        return render(
            request, "sekisho/change_password.html", {**context, "errors": errors}, status=400
        )
    flow.password_change = False
    put_flow(request, flow)
    user.refresh_from_db()
    if not user.is_active:
        clear_flow(request)
        return redirect("/signin")
    return complete_sign_in(request, user, flow)
