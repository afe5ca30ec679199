"""Service errors as console messages in the administrator's language (by stable code)."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from sekisho.errors import SekishoError

BY_CODE: dict[str, Promise] = {
    "invalid_username": gettext_lazy(
        "The username is not valid: use letters, digits and . _ @ + = , - (up to 128)."
    ),
    "user_exists": gettext_lazy("A user with this username already exists."),
    "user_not_found": gettext_lazy("There is no such user."),
    "invalid_email": gettext_lazy("The email address is not valid."),
    "invalid_display_name": gettext_lazy("The display name is not valid."),
    "invalid_group_name": gettext_lazy("The group name or description is not valid."),
    "group_exists": gettext_lazy("A group with this name already exists."),
    "group_not_found": gettext_lazy("There is no such group."),
    "weak_password": gettext_lazy("The password does not meet the password rules."),
    "invalid_time_zone": gettext_lazy("Choose a time zone from the list."),
    "not_found": gettext_lazy("It does not exist (any more)."),
    "conflict": gettext_lazy("It conflicts with what exists already."),
    "invalid_input": gettext_lazy("A value is not valid."),
    "invalid_application_name": gettext_lazy(
        "Application names are 1-63 lowercase letters, digits and '-'."
    ),
    "application_exists": gettext_lazy("An application with this name already exists."),
    "unknown_application": gettext_lazy("There is no such application."),
    "not_assignable": gettext_lazy("This user cannot be assigned to this application."),
    "metadata_error": gettext_lazy("The SP's metadata could not be used."),
    "mapping_error": gettext_lazy("An attribute mapping is not valid."),
    "invalid_mapping": gettext_lazy("An attribute mapping is not valid."),
    "preset_error": gettext_lazy("A value of the preset is not valid."),
    "policy_invalid": gettext_lazy("The policy document is not valid."),
    "invalid_policy_name": gettext_lazy(
        "Policy names are 1-128 letters, digits and + = , . @ _ -."
    ),
    "no_such_policy": gettext_lazy("There is no such policy."),
    "delete_conflict": gettext_lazy("The policy is still attached; detach it first."),
    "config_error": gettext_lazy("A setting is not valid."),
    "token_error": gettext_lazy("The API token could not be created."),
    "no_staged_key": gettext_lazy("Publish the next certificate first."),
    "import_invalid": gettext_lazy("The file cannot be imported."),
}


def explain(exc: SekishoError) -> tuple[str, str]:
    """(a sentence in the administrator's language, the service's own detail in English)."""
    known = BY_CODE.get(exc.code)
    return (str(known) if known is not None else _("The change was refused."), str(exc))
