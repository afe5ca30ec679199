from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

PAGES = ["/admin/", "/admin/users", "/admin/new-user", "/admin/import-users", "/admin/groups", "/admin/apps", "/admin/new-app", "/admin/new-app?kind=saml", "/admin/new-app?kind=aws-console", "/admin/policies", "/admin/new-policy", "/admin/policies/AllowAll", "/admin/simulate", "/admin/mfa", "/admin/radius", "/admin/keys", "/admin/audit", "/admin/sessions", "/admin/settings", "/admin/tokens"]


def test_every_page(console_as, connect_app) -> None:
    admin = console_as("admin")
    for path in PAGES + [f"/admin/users/{admin.user.username}", "/admin/apps/connect"]:
        r = admin.get(path)
        assert r.status_code == 200, (path, r.status_code, r.content[:2000])
