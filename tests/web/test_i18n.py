"""English and Japanese: Accept-Language, the language switcher, and a complete catalogue."""

from __future__ import annotations

import gettext
import importlib.util
import io
import re
import sys
from collections.abc import Callable, Iterator
from html import unescape
from pathlib import Path
from types import ModuleType
from typing import Any

import polib
import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from sekisho.clock import FrozenClock
from sekisho.mfa import totp
from sekisho.mfa.models import TotpDevice
from sekisho.saml import assignments
from sekisho.saml.models import Application
from tests.conftest import PASSWORD, password_step, sign_in_registering

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "sekisho" / "locale" / "ja" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
JA = {"accept-language": "ja"}
EN = {"accept-language": "en"}
GENERIC_EN = "The username or password is incorrect."
GENERIC_JA = "ユーザー名またはパスワードが正しくありません。"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}")


def _compiler() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "sekisho_compilemessages", ROOT / "scripts" / "compilemessages.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


compiler = _compiler()


@pytest.fixture(autouse=True)
def _default_language_afterwards() -> Iterator[None]:
    """Django keeps the last activated language per thread: leave English for other tests."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def text(response: Any) -> str:
    """The page as a person reads it (entities decoded)."""
    return unescape(response.content.decode())


def catalogue() -> polib.POFile:
    return polib.pofile(str(PO))


# --- language negotiation -------------------------------------------------------------------


def test_locale_path_is_configured() -> None:
    assert PO.parent.parent.parent in [Path(p) for p in settings.LOCALE_PATHS]
    assert [code for code, _ in settings.LANGUAGES] == ["en", "ja"]


def test_accept_language_ja_gives_japanese_sign_in(client: Client, make_user, clock) -> None:
    make_user()
    page = client.get("/signin", headers=JA)
    assert page.status_code == 200
    body = text(page)
    assert '<html lang="ja">' in body
    assert "サインイン" in body and "パスワード" in body and "ユーザー名" in body
    assert "Sign in" not in body and "Password" not in body
    assert page["Content-Language"] == "ja"

    wrong = client.post("/signin", {"username": "alice", "password": "nope nope nope"}, headers=JA)
    assert wrong.status_code == 401
    assert GENERIC_JA in text(wrong) and GENERIC_EN not in text(wrong)


def test_regional_and_weighted_accept_language(client: Client, db) -> None:
    assert "サインイン" in text(client.get("/signin", headers={"accept-language": "ja-JP"}))
    weighted = {"accept-language": "fr-FR,fr;q=0.9,ja;q=0.8,en;q=0.5"}
    assert "サインイン" in text(client.get("/signin", headers=weighted))


def test_english_by_default(client: Client, make_user, clock) -> None:
    make_user()
    for headers in ({}, EN, {"accept-language": "fr-FR,de;q=0.8"}):
        page = client.get("/signin", headers=headers)
        body = text(page)
        assert '<html lang="en">' in body and "Sign in" in body and "サインイン" not in body
    wrong = client.post("/signin", {"username": "alice", "password": "nope nope nope"})
    assert wrong.status_code == 401 and GENERIC_EN in text(wrong)


def test_lockout_message_in_japanese(client: Client, make_user, clock) -> None:
    make_user()
    for _ in range(5):
        client.post("/signin", {"username": "alice", "password": "wrong wrong"}, headers=JA)
    locked = client.post("/signin", {"username": "alice", "password": "wrong"}, headers=JA)
    assert locked.status_code == 429
    assert re.search(r"\d+ 分後にもう一度お試しください。", text(locked)), text(locked)


def test_switcher_sets_the_language_cookie(make_user, clock) -> None:
    make_user()
    client = Client(enforce_csrf_checks=True)
    page = client.get("/signin", headers=EN)
    body = text(page)
    form = re.search(r'<form method="post" action="/i18n/setlang/".*?</form>', body, re.S)
    assert form, "no language switcher on the page"
    assert re.search(r'<option value="ja"[^>]*>日本語</option>', form.group(0))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.group(0))
    assert token
    switched = client.post(
        "/i18n/setlang/",
        {"language": "ja", "next": "/signin", "csrfmiddlewaretoken": token.group(1)},
        headers=EN,
    )
    assert switched.status_code == 302 and switched["Location"] == "/signin"
    cookie = switched.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "ja"
    assert cookie["secure"] and cookie["samesite"] == "Lax"

    # The choice wins over the browser's Accept-Language from now on, on every page.
    later = client.get("/signin", headers=EN)
    assert '<html lang="ja">' in text(later) and "サインイン" in text(later)
    assert re.search(r'<option value="ja" selected>', text(later))
    wrong = client.post(
        "/signin",
        {"username": "alice", "password": "nope", "csrfmiddlewaretoken": token.group(1)},
        headers=EN,
    )
    assert GENERIC_JA in text(wrong)

    # And back to English.
    back = client.post(
        "/i18n/setlang/",
        {"language": "en", "next": "/signin", "csrfmiddlewaretoken": token.group(1)},
    )
    assert back.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert "Sign in" in text(client.get("/signin", headers=JA))


def test_switcher_ignores_unknown_languages_and_foreign_next(client: Client, db) -> None:
    response = client.post("/i18n/setlang/", {"language": "xx", "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


def test_application_kind_labels_are_translated() -> None:
    with translation.override("ja"):
        assert str(Application(kind=Application.KIND_SAML).get_kind_display()) == (
            "SAML 2.0 アプリケーション"
        )
        assert str(Application(kind=Application.KIND_AWS_CONSOLE).get_kind_display()) == (
            "AWS マネジメントコンソール"
        )


def test_oversized_request_page_follows_accept_language(client: Client, db) -> None:
    client.get("/signin", headers=EN)  # the thread's last language is now English
    response = client.post("/saml/sso", {"SAMLRequest": "A" * (600 * 1024)}, headers=JA)
    assert response.status_code == 413
    assert "リクエストが大きすぎます" in text(response)


# --- the catalogue --------------------------------------------------------------------------


def test_po_header() -> None:
    po = catalogue()
    assert not po.metadata_is_fuzzy
    assert po.metadata["Language"] == "ja"
    assert po.metadata["Plural-Forms"].replace(" ", "") == "nplurals=1;plural=0;"
    assert "charset=UTF-8" in po.metadata["Content-Type"]


def test_po_is_complete() -> None:
    po = catalogue()
    live = [e for e in po if not e.obsolete]
    assert len(live) > 50
    assert [e.msgid for e in po.untranslated_entries()] == []
    assert [e.msgid for e in po.fuzzy_entries()] == []
    for entry in live:
        if entry.msgid_plural:
            assert list(entry.msgstr_plural) == [0], entry.msgid  # nplurals=1
            translations = list(entry.msgstr_plural.values())
        else:
            translations = [entry.msgstr]
        for msgstr in translations:
            assert msgstr.strip(), entry.msgid
            # Placeholders kept exactly, none invented.
            assert sorted(PLACEHOLDER.findall(msgstr)) == sorted(
                PLACEHOLDER.findall(entry.msgid_plural or entry.msgid)
            ), entry.msgid
            assert msgstr.count("\n") == entry.msgid.count("\n"), entry.msgid


def test_translations_are_japanese() -> None:
    """Everything but brand names and SAML field names reads as Japanese, politely."""
    kept = {"Sekisho", "NameID", "InResponseTo"}
    kana_or_kanji = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
    for entry in catalogue():
        if entry.obsolete or entry.msgid in kept:
            continue
        msgstr = entry.msgstr or entry.msgstr_plural[0]
        assert kana_or_kanji.search(msgstr), entry.msgid
        if entry.msgid.endswith("."):
            # Full sentences end in 。 and use the です/ます form.
            assert msgstr.endswith("。"), entry.msgid
            assert re.search(r"(です|ます|ません|ました|ください)。", msgstr), entry.msgid


def test_committed_mo_is_up_to_date_with_the_po() -> None:
    assert MO.exists(), "run: python scripts/compilemessages.py"
    compiled = compiler.read_mo(compiler.compile_po(PO))
    committed = compiler.read_mo(MO.read_bytes())
    assert committed == compiled, "stale .mo: run python scripts/compilemessages.py"
    # Independently of our compiler: polib's and the standard library's readers agree.
    expected = {
        (e.msgctxt, e.msgid): (e.msgstr or e.msgstr_plural[0])
        for e in catalogue().translated_entries()
        if not e.obsolete and not e.fuzzy
    }
    mo = polib.mofile(str(MO))
    assert {(e.msgctxt, e.msgid): (e.msgstr or e.msgstr_plural[0]) for e in mo} == expected
    stdlib = gettext.GNUTranslations(io.BytesIO(MO.read_bytes()))
    assert stdlib.gettext("Sign in") == "サインイン"
    assert stdlib.info()["plural-forms"].replace(" ", "") == "nplurals=1;plural=0;"


def test_compiler_round_trip(tmp_path: Path) -> None:
    po = tmp_path / "django.po"
    po.write_text(
        "# comment\n"
        'msgid ""\n'
        'msgstr ""\n'
        '"Content-Type: text/plain; charset=UTF-8\\n"\n'
        '"POT-Creation-Date: 2026-01-01 00:00+0000\\n"\n'
        '"Plural-Forms: nplurals=1; plural=0;\\n"\n'
        "\n"
        "#: a.py\n"
        'msgid "Hello"\n'
        'msgstr "こんにちは"\n'
        "\n"
        'msgctxt "button"\n'
        'msgid "Open"\n'
        'msgstr "開く"\n'
        "\n"
        "#, python-format\n"
        'msgid "%(n)d item"\n'
        'msgid_plural "%(n)d items"\n'
        'msgstr[0] "%(n)d 件"\n'
        "\n"
        'msgid ""\n'
        '"Tab\\there, \\"quoted\\" "\n'
        '"and a newline\\n"\n'
        'msgstr "タブ\\tと「引用」\\n"\n'
        "\n"
        "#, fuzzy\n"
        'msgid "Guess"\n'
        'msgstr "推測"\n'
        "\n"
        'msgid "Untranslated"\n'
        'msgstr ""\n'
        "\n"
        '#~ msgid "Old"\n'
        '#~ msgstr "古い"\n',
        encoding="utf-8",
    )
    image = compiler.compile_po(po)
    entries = compiler.read_mo(image)
    assert entries == {
        "": "Content-Type: text/plain; charset=UTF-8\nPlural-Forms: nplurals=1; plural=0;\n",
        "Hello": "こんにちは",
        "button\x04Open": "開く",
        "%(n)d item\x00%(n)d items": "%(n)d 件",
        'Tab\there, "quoted" and a newline\n': "タブ\tと「引用」\n",
    }
    stdlib = gettext.GNUTranslations(io.BytesIO(image))
    assert stdlib.pgettext("button", "Open") == "開く"
    assert stdlib.ngettext("%(n)d item", "%(n)d items", 3) == "%(n)d 件"
    assert compiler.compile_po(po) == image  # reproducible

    po.write_text(
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        '#, python-format\nmsgid "Hi %(name)s"\nmsgstr "こんにちは %(nom)s"\n',
        encoding="utf-8",
    )
    with pytest.raises(compiler.PoSyntaxError, match="placeholders"):
        compiler.compile_po(po)


def test_check_mode_passes_on_the_committed_catalogue() -> None:
    assert compiler.main(["--check"]) == 0


# --- no English left on Japanese pages ------------------------------------------------------

Fetch = Callable[[dict[str, str]], str]


def long_messages() -> dict[str, str]:
    """msgid → msgstr of every translated sentence long enough to be unambiguous."""
    return {
        e.msgid: e.msgstr or e.msgstr_plural[0]
        for e in catalogue()
        if not e.obsolete and len(e.msgid) > 12 and not PLACEHOLDER.search(e.msgid)
    }


def assert_translated(name: str, fetch: Fetch, seen: set[str]) -> None:
    english, japanese = fetch(EN), fetch(JA)
    assert '<html lang="en">' in english and '<html lang="ja">' in japanese, name
    found = 0
    for msgid, msgstr in long_messages().items():
        if msgid in english:
            found += 1
            seen.add(msgid)
            assert msgid not in japanese, f"{name}: English left on the Japanese page: {msgid!r}"
            assert msgstr in japanese, f"{name}: missing translation of {msgid!r}"
    assert found, f"{name}: no catalogue message on the English page"


def test_no_english_leaks_onto_japanese_pages(
    make_user, connect_app, clock: FrozenClock, actor
) -> None:
    seen: set[str] = set()
    anonymous = Client()
    user = make_user("agent1")
    assignments.assign(connect_app, user=user, actor=actor)
    make_user("bob")

    def get(client: Client, path: str, status: int = 200) -> Fetch:
        def fetch(headers: dict[str, str]) -> str:
            response = client.get(path, headers=headers)
            assert response.status_code == status, (path, response.status_code)
            return text(response)

        return fetch

    def post(client: Client, path: str, data: dict[str, str], status: int) -> Fetch:
        def fetch(headers: dict[str, str]) -> str:
            response = client.post(path, data, headers=headers)
            assert response.status_code == status, (path, response.status_code)
            return text(response)

        return fetch

    # Signed out.
    assert_translated("signin", get(anonymous, "/signin"), seen)
    assert_translated("signed out", get(anonymous, "/signin?signed_out=1"), seen)
    assert_translated(
        "wrong password",
        post(anonymous, "/signin", {"username": "bob", "password": "wrong wrong"}, 401),
        seen,
    )
    assert_translated("not found", get(anonymous, "/no/such/page", 404), seen)
    assert_translated("saml malformed", get(anonymous, "/saml/sso", 400), seen)
    assert_translated("inspector", get(anonymous, "/saml/inspector"), seen)
    assert_translated(
        "inspector without response", post(anonymous, "/saml/inspector", {}, 400), seen
    )
    strict = Client(enforce_csrf_checks=True)
    assert_translated(
        "csrf", post(strict, "/signin", {"username": "bob", "password": "x"}, 403), seen
    )

    # First sign-in: registration, then the MFA challenge with a wrong code.
    registering = Client()
    assert password_step(registering, "bob") == "/signin/mfa/register"
    assert_translated("mfa choose", get(registering, "/signin/mfa/register"), seen)
    assert_translated("mfa register", get(registering, "/signin/mfa/register/totp"), seen)
    assert_translated("mfa register a key", get(registering, "/signin/mfa/register/webauthn"), seen)
    assert_translated(
        "mfa register, wrong code",
        post(registering, "/signin/mfa/register/totp", {"code": "000000"}, 400),
        seen,
    )
    challenged = Client()
    secret = sign_in_registering(challenged, clock, "agent1")
    challenged.post("/signout")
    assert password_step(challenged, "agent1") == "/signin/mfa"
    assert_translated("mfa challenge", get(challenged, "/signin/mfa/totp"), seen)
    assert_translated("recovery code", get(challenged, "/signin/mfa/recovery"), seen)
    assert_translated(
        "mfa challenge, malformed code",
        post(challenged, "/signin/mfa/totp", {"code": "12"}, 401),
        seen,
    )
    clock.advance(60)
    done = challenged.post(
        "/signin/mfa/totp", {"code": totp.code_at(secret=secret, now=clock.now())}
    )
    assert done.status_code == 302

    # Signed in.
    assert_translated("apps", get(challenged, "/apps"), seen)
    assert_translated("reauthenticate", get(challenged, "/account/verify"), seen)
    assert_translated(
        "reauthenticate, wrong password",
        post(challenged, "/account/verify", {"password": "wrong wrong"}, 401),
        seen,
    )
    assert challenged.post("/account/verify", {"password": PASSWORD}).status_code == 302
    assert_translated("my security", get(challenged, "/account"), seen)
    only = str(TotpDevice.objects.get(user__username="agent1").pk)
    assert_translated(
        "my security, last device",
        post(challenged, "/account", {"action": "remove", "method": "totp", "device": only}, 400),
        seen,
    )
    assert_translated("add a device", get(challenged, "/account/security/add/totp"), seen)
    assert_translated(
        "new recovery codes", post(challenged, "/account", {"action": "recovery"}, 200), seen
    )
    launch = post(challenged, "/apps/connect/launch", {}, 200)
    assert_translated("launch", launch, seen)
    response = re.search(r'name="SAMLResponse" value="([^"]+)"', launch(EN))
    assert response
    assert_translated(
        "inspector with a response",
        post(anonymous, "/saml/inspector", {"SAMLResponse": response.group(1)}, 200),
        seen,
    )
    nobody = Client()
    sign_in_registering(nobody, clock, "bob")
    assert_translated("no apps", get(nobody, "/apps"), seen)
    assert_translated("not assigned", post(nobody, "/apps/connect/launch", {}, 403), seen)

    # The walk covers the portal's sentences, not only a few.
    assert len(seen) >= 35, sorted(set(long_messages()) - seen)
