"""URL routes of the console at /admin (create and import pages sit outside the name spaces
of users, apps and policies, whose names could be "new" or "import")."""

from django.urls import URLPattern, path

from sekisho.console.views import catalog, system, users

urlpatterns: list[URLPattern] = [
    path("", system.dashboard_page),
    path("users", users.user_list),
    path("new-user", users.user_new),
    path("import-users", users.user_import),
    path("export-users", users.user_export),
    path("users/<str:username>", users.user_detail),
    path("groups", catalog.group_list),
    path("groups/<str:name>", catalog.group_detail),
    path("apps", catalog.app_list),
    path("new-app", catalog.app_new),
    path("apps/<str:name>", catalog.app_detail),
    path("policies", catalog.policy_list),
    path("new-policy", catalog.policy_edit),
    path("simulate", catalog.policy_simulate),
    path("policies/<str:name>", catalog.policy_edit),
    path("mfa", system.mfa_page),
    path("radius", system.radius_page),
    path("keys", system.keys_page),
    path("audit", system.audit_page),
    path("export-audit", system.audit_export),
    path("sessions", system.sessions_page),
    path("settings", system.settings_page),
    path("tokens", system.tokens_page),
]
