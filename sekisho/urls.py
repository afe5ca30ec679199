"""URL routes of Sekisho."""

from django.urls import include, path, re_path
from django.views.generic import RedirectView
from django.views.i18n import set_language

from sekisho.api.routes import urls as api_urls
from sekisho.emulator import console as aws_console
from sekisho.emulator import emergency as aws_emergency
from sekisho.emulator import views as emulator
from sekisho.portal import mfa_views as mfa_pages
from sekisho.portal import passkey, password, security
from sekisho.portal import views as portal
from sekisho.saml import views as saml

urlpatterns = [
    path("", portal.index),
    path("signin", portal.signin),
    path("signin/passkey/options", passkey.options),
    path("signin/passkey", passkey.signin),
    path("signin/mfa", mfa_pages.verify_start),
    path("signin/mfa/register", mfa_pages.register_start),
    path("signin/mfa/register/<slug:method>", mfa_pages.register),
    path("signin/mfa/<slug:method>", mfa_pages.verify),
    path("signin/continue", mfa_pages.signin_continue),
    path("signin/password", password.change_password),
    path("signout", portal.signout),
    path("apps", portal.apps),
    path("apps/<slug:name>/launch", portal.launch),
    path("account", security.account),
    path("account/verify", security.reauthenticate),
    path("account/security/add/<slug:method>", security.add_device),
    path("i18n/setlang/", set_language, name="set_language"),
    path("api/v1/", api_urls),
    path("admin", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", include("sekisho.console.urls")),
    path("saml/metadata", saml.metadata),
    path("saml/sso", saml.sso),
    path("saml/continue/<str:token>", saml.continue_sso),
    path("saml/slo", saml.single_logout),
    path("saml/logout/<str:token>", saml.logout_continue),
    path("saml/inspector", saml.inspector),
    # The browser side of the emulated AWS (before the API's catch-all: order matters).
    path("aws/saml", aws_console.saml_signin),
    path("aws/connect/federate/<str:instance_id>", aws_console.connect_federate),
    path("aws/connect/<str:instance_id>/emergency", aws_emergency.login),
    path("aws/connect/<str:instance_id>/emergency/users", aws_emergency.users),
    path("aws/connect/instance/<str:name>", aws_console.connect_instance),
    path("aws/connect/<str:name>/connect/logout", aws_console.connect_logout),
    path("aws/connect/<str:name>/", aws_console.connect_instance),
    path("aws/connect/<str:name>/<path:rest>", aws_console.connect_instance),
    path("aws", emulator.aws_endpoint),
    path("aws/", emulator.aws_endpoint),
    # rest-json services (Amazon Connect) put their operation in the path under /aws. Any
    # character, line breaks included (path's ".+" stops at one): AWS takes a %0A in a
    # path parameter as part of the value, so the emulator must see it to answer as AWS.
    re_path(r"^aws/(?P<rest>(?s:.+))\Z", emulator.aws_endpoint),
]

handler400 = "sekisho.web.errors.bad_request"
handler403 = "sekisho.web.errors.permission_denied"
handler404 = "sekisho.web.errors.page_not_found"
handler500 = "sekisho.web.errors.server_error"
