"""The administration console in Debian's Chromium: every screen in English and Japanese, at
1280 px and at 375 px, plus the flows an administrator goes through and the portal's UI fixes.

A served instance (the demo's data, set up with `sekisho demo --no-serve`) and a real browser:
signing in, the step-up, the password asked again, forms without JavaScript. Any console
error (CSP violations included) fails a screen, and at 375 px no screen may be wider than
the window.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sekisho.mfa import totp
from tests.radius.conftest import (
    ALICE,
    MALLORY,
    FreeRadius,
    freeradius,  # noqa: F401 - the session's FreeRADIUS
)
from tests.served.client import seed_directory
from tests.servers import Instance, served_instance

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

pytestmark = pytest.mark.browser

ADMIN = "chief"
PASSWORD = "correct horse battery staple"
TIMEOUT_MS = 15_000

# Every console screen: (path, a selector that must be visible on it).
SCREENS = [
    ("/admin/", "#chart-hours svg"),
    ("/admin/users", "#users"),
    ("/admin/users/agent1", "#user-facts"),
    ("/admin/new-user", "#create-user"),
    ("/admin/import-users", "#check-import"),
    ("/admin/groups", "#create-group"),
    ("/admin/groups/agents", "#members"),
    ("/admin/apps", "#apps"),
    ("/admin/apps/amazon-connect", "#mapping-editor"),
    ("/admin/apps/amazon-connect", "#saml-settings"),
    ("/admin/new-app", "#create-app"),
    ("/admin/new-app?kind=saml", "#metadata_url"),
    ("/admin/new-app?kind=aws-console", "#account_id"),
    ("/admin/policies", "#policies"),
    ("/admin/policies/AllowAll", "#document"),
    ("/admin/new-policy", "#save-policy"),
    ("/admin/simulate?user=agent1&source_ip=127.0.0.1&application=amazon-connect", "#decision"),
    ("/admin/mfa", "#save-mfa"),
    ("/admin/radius", "#servers"),
    ("/admin/keys", "#keys"),
    ("/admin/sessions", "#sessions"),
    ("/admin/audit", "#audit"),
    ("/admin/settings", "#save-settings"),
    ("/admin/tokens", "#create-token"),
]
# A word of each language that the console's navigation shows.
NAV_WORD = {"en": "Dashboard", "ja": "ダッシュボード"}


class Watch:
    """Console errors and uncaught page errors of a context (expected ones can be allowed)."""

    def __init__(self, context: BrowserContext) -> None:
        self.errors: list[str] = []
        self.allowed: list[re.Pattern[str]] = []
        context.on("page", self._watch)

    def _watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not any(p.search(message.text) for p in self.allowed):
            self.errors.append(f"{message.location.get('url', '')}: {message.text}")

    def assert_clean(self) -> None:
        assert not self.errors, "browser reported errors:\n" + "\n".join(self.errors)


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory,
    freeradius: FreeRadius,  # noqa: F811
) -> Iterator[Instance]:
    """A served instance with the demo's data, an administrator and a real FreeRADIUS."""
    with served_instance(Path(tmp_path_factory.mktemp("console"))) as instance:
        token = instance.cli("api-token", "create", "seed", "--role", "admin").strip()
        instance.cli(
            "user",
            "create",
            ADMIN,
            "--email",
            "chief@example.com",
            "--display-name",
            "Chief Admin",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        instance.cli("user", "grant-role", ADMIN, "admin")
        instance.cli(
            "radius",
            "add",
            "freeradius",
            "--host",
            freeradius.host,
            "--port",
            str(freeradius.port),
            "--timeout",
            "2",
            "--retries",
            "0",
            stdin=freeradius.secret.decode() + "\n",
        )
        instance.cli("api-token", "create", "terraform", "--role", "auditor")
        instance.start(workers=2)
        seed_directory(instance.nodes[0].url, token, admin=ADMIN)
        yield instance


def _code(secret: str) -> str:
    remaining = totp.PERIOD_SECONDS - (time.time() % totp.PERIOD_SECONDS)
    if remaining < 3:
        time.sleep(remaining + 0.2)
    return totp.code_at(secret=secret, now=datetime.now(UTC))


@pytest.fixture(scope="module")
def admin_state(site: Instance, browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The administrator signed in with a registered authenticator app (a storage state)."""
    context = browser.new_context(locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{site.base_url}/signin?next=/admin/")
    page.fill("#username", ADMIN)
    page.fill("#password", PASSWORD)
    page.click("form[action='/signin'] button[type=submit]")
    page.wait_for_url("**/signin/mfa/register**")
    if page.url.endswith("/signin/mfa/register"):
        page.click("#choose-totp")
    secret = (page.locator("#totp-secret").text_content() or "").replace(" ", "").strip()
    page.fill("#code", _code(secret))
    page.click("form:has(#code) button[type=submit]")
    page.wait_for_selector("#recovery-codes li")
    page.click("form[action='/signin/continue'] button[type=submit]")
    page.wait_for_url(f"{site.base_url}/admin/")
    state = tmp_path_factory.mktemp("admin-state") / "state.json"
    context.storage_state(path=str(state))
    context.close()
    return state


@pytest.fixture
def as_admin(browser: Browser, admin_state: Path) -> Iterator[tuple[BrowserContext, Watch]]:
    def make(locale: str = "en-US", width: int = 1280) -> tuple[BrowserContext, Watch]:
        context = browser.new_context(
            locale=locale,
            storage_state=str(admin_state),
            viewport={"width": width, "height": 900},
        )
        context.set_default_timeout(TIMEOUT_MS)
        made.append(context)
        return context, Watch(context)

    made: list[BrowserContext] = []
    yield make  # type: ignore[misc]
    for context in made:
        context.close()


@pytest.mark.once
@pytest.mark.parametrize("locale,lang", [("en-US", "en"), ("ja-JP", "ja")])
def test_every_screen_in_both_languages_and_at_375_px(
    site: Instance, as_admin, locale: str, lang: str, shots_dir: Path
) -> None:
    for width in (1280, 375):
        context, watch = as_admin(locale, width)
        page = context.new_page()
        for path, selector in SCREENS:
            response = page.goto(f"{site.base_url}{path}")
            assert response is not None and response.status == 200, (path, lang, width)
            assert page.locator("html").get_attribute("lang") == lang, path
            page.locator(selector).first.wait_for(state="attached")
            assert page.locator("h1").first.is_visible(), path
            nav = page.locator(".console-nav").inner_text()
            assert NAV_WORD[lang] in nav, (path, lang)
            # The stylesheet applied under the strict CSP (no inline styles or scripts).
            assert page.locator(".console").evaluate("e => getComputedStyle(e).display") == "grid"
            overflow = page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= width, f"{path} ({lang}) is {overflow} px wide at {width} px"
            if width == 375:
                name = re.sub(r"[^a-z0-9]+", "-", path.strip("/").lower()) or "dashboard"
                page.screenshot(
                    path=shots_dir / f"console-{lang}-{width}-{name}.png", full_page=True
                )
        watch.assert_clean()


def test_create_a_user_with_a_temporary_password_and_act_on_them(site: Instance, as_admin) -> None:
    context, watch = as_admin()
    page = context.new_page()
    page.goto(f"{site.base_url}/admin/new-user")
    page.fill("#username", "agent7")
    page.fill("#email", "agent7@example.com")
    page.fill("#display_name", "Agent Seven")
    page.select_option("#time_zone", "Asia/Tokyo")
    page.check("input[name=groups][value=agents]")
    page.click("#create-user")
    page.wait_for_url(f"{site.base_url}/admin/users/agent7")
    shown = page.locator("#new-password code").inner_text()
    assert re.fullmatch(r"[A-Za-z0-9]{4}(-[A-Za-z0-9]{4}){3}", shown), shown
    assert "agents" in page.locator("#user-groups").inner_text()
    page.reload()
    assert page.locator("#new-password").count() == 0  # shown once
    page.click("#disable-user")
    page.wait_for_selector("#enable-user")
    page.click("#enable-user")
    page.wait_for_selector("#disable-user")
    page.fill("#source_ip", "203.0.113.9")
    page.select_option("#application", "amazon-connect")
    page.click("#check-access")
    assert "Allow" in page.locator("#decision").inner_text()
    page.goto(f"{site.base_url}/admin/users?q=agent7")
    assert page.locator("#users a", has_text="agent7").is_visible()
    watch.assert_clean()
    out = site.cli("user", "show", "agent7")
    assert '"must_change_password": true' in out and '"time_zone": "Asia/Tokyo"' in out


def test_csv_import_shows_bad_rows_first_and_applies_on_request(
    site: Instance, as_admin, tmp_path: Path
) -> None:
    context, watch = as_admin("ja-JP")
    page = context.new_page()
    csv_file = tmp_path / "agents.csv"
    csv_file.write_text(
        "username,email,display_name,groups\n"
        "agent20,agent20@example.com,エージェント 20,agents\n"
        "agent21,not-an-email,,agents\n",
        encoding="utf-8",
    )
    page.goto(f"{site.base_url}/admin/import-users")
    page.set_input_files("#file", str(csv_file))
    page.click("#check-import")
    page.wait_for_selector("#import-problems")
    assert "email" in page.locator("#import-problems").inner_text()
    assert "まだ何も変更していません" in page.locator("#import-summary").inner_text()
    page.check("#skip-bad")
    page.click("#apply-import")
    page.wait_for_selector("#import-done")
    assert "1 人のユーザーを作成しました" in page.locator("#import-done").inner_text()
    watch.assert_clean()
    assert "agent20" in site.cli("user", "list") and "agent21" not in site.cli("user", "list")


def test_sensitive_actions_ask_for_the_password_again(site: Instance, as_admin) -> None:
    context, watch = as_admin()
    page = context.new_page()
    page.goto(f"{site.base_url}/admin/keys")
    page.click("#stage-key")
    page.wait_for_url(f"{site.base_url}/account/verify?next=%2Fadmin%2Fkeys")
    page.fill("#password", PASSWORD)
    page.click("form[action='/account/verify'] button[type=submit]")
    page.wait_for_url(f"{site.base_url}/admin/keys")
    page.click("#stage-key")
    page.wait_for_selector("tr[data-role=next]")
    metadata = page.request.get(f"{site.base_url}/saml/metadata").text()
    assert metadata.count("X509Certificate>") == 4  # two certificates, open and close tags
    # The policy editor shows every problem with its JSON path, nothing saved.
    page.goto(f"{site.base_url}/admin/policies/AllowAll")
    page.fill("#document", '{"Version": "2012-10-17", "Statement": [{"Effect": "Perhaps"}]}')
    watch.allowed.append(re.compile(r"status of 400"))
    page.click("#save-policy")
    problems = page.locator("#policy-problems").inner_text()
    assert "$.Statement[0].Effect" in problems
    watch.assert_clean()


def test_radius_test_button_asks_freeradius_and_shows_no_secret(
    site: Instance,
    as_admin,
    freeradius: FreeRadius,  # noqa: F811
) -> None:
    context, watch = as_admin()
    page = context.new_page()
    for (username, password), expected in (
        (ALICE, "Access-Accept"),
        ((MALLORY[0], MALLORY[1]), "Access-Reject"),
    ):
        page.goto(f"{site.base_url}/admin/radius")
        page.fill("#test-user", username)
        page.fill("#test-password", password)
        page.click("#test-radius")
        result = page.locator("#radius-result").inner_text()
        assert expected in result and "freeradius" in result, result
        html = page.content()
        assert password not in html and freeradius.secret.decode() not in html
    assert MALLORY[2] in result  # the server's Reply-Message is shown
    audit = site.cli("audit", "tail", "-n", "5")
    assert "TestRadiusServer" in audit and freeradius.secret.decode() not in audit
    assert ALICE[1] not in audit
    watch.assert_clean()


def test_the_portal_ui_fixes(site: Instance, browser: Browser, admin_state: Path) -> None:
    """My security fits 375 px in both languages; 名前を変更 is one line; Add links are buttons."""
    for locale, lang in (("en-US", "en"), ("ja-JP", "ja")):
        for width in (375, 1280):
            context = browser.new_context(
                locale=locale,
                storage_state=str(admin_state),
                viewport={"width": width, "height": 900},
            )
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            page.goto(f"{site.base_url}/account")
            if "/account/verify" in page.url:
                page.fill("#password", PASSWORD)
                page.click("form[action='/account/verify'] button[type=submit]")
                page.wait_for_url(f"{site.base_url}/account")
            assert page.locator("html").get_attribute("lang") == lang
            page.locator("#devices").wait_for()
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, f"My security is {wide} px wide at {width} px ({lang})"
            rename = page.locator("#devices button", has_text=re.compile("Rename|名前を変更")).first
            box = rename.bounding_box()
            assert box is not None and box["height"] < 40, (
                box
            )  # one line, not one character per line
            bullets = page.locator("ul.add").evaluate("e => getComputedStyle(e).listStyleType")
            assert bullets == "none"
            assert re.search(
                r"\d{4}-\d\d-\d\d \d\d:\d\d [A-Z]{3}", page.locator("#devices").inner_text()
            )
            page.goto(f"{site.base_url}/apps")
            tile = page.locator("button.tile[data-app=amazon-connect]").inner_text()
            assert tile.count("Amazon Connect") == 1, tile  # not "Amazon Connect / Amazon Connect"
            context.close()
