"""/healthz, /readyz and /metrics through the Django test client, and what the metrics count.

Counters are process-wide, so every check compares a value before and after. Audit-derived
counters move when the record's transaction commits: pytest-django wraps each test in a
transaction, so those checks run the on-commit callbacks explicitly.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.db import OperationalError, connection, transaction
from django.test import Client

from sekisho.audit import records
from sekisho.audit.writer import emit, identity_store_arn, subscribe, unsubscribe
from sekisho.config import get_config, load_config
from sekisho.directory import services as directory
from sekisho.logs import JsonFormatter
from sekisho.ops import health, metrics
from sekisho.saml import assignments
from sekisho.web import middleware, ops
from tests.conftest import PASSWORD, sign_in_registering

pytestmark = pytest.mark.django_db

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def with_config(monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    """Middleware built from now on (each new Client) sees a changed configuration."""
    changed = dataclasses.replace(get_config(), **changes)
    monkeypatch.setattr(middleware, "get_config", lambda: changed)
    monkeypatch.setattr(ops, "get_config", lambda: changed)


def nets(*cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


# --- /healthz -----------------------------------------------------------------------------


def test_healthz_answers_without_the_database_or_a_session(
    django_assert_num_queries: Callable[..., Any],
) -> None:
    client = Client(HTTP_COOKIE="sekisho_session=not-a-session-key")
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    assert not response.cookies


def test_healthz_answers_any_host_header_and_head() -> None:
    # Load balancers probe a node by its address, which ALLOWED_HOSTS does not list.
    client = Client(HTTP_HOST="10.20.30.40:8000")
    assert client.get("/healthz").status_code == 200
    head = client.head("/healthz")
    assert head.status_code == 200 and head.content == b""


def test_other_methods_are_refused_plainly() -> None:
    response = Client().post("/healthz", {"x": "1"})
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response.content == b"method not allowed\n"


# --- /readyz ------------------------------------------------------------------------------


def test_readyz_reads_once_and_writes_nothing(
    django_assert_num_queries: Callable[..., Any],
) -> None:
    sessions = Session.objects.count()
    with django_assert_num_queries(1) as queries:
        response = Client().get("/readyz")
    assert response.status_code == 200 and response.content == b"ready\n"
    assert response["Cache-Control"] == "no-store"
    assert queries.captured_queries[0]["sql"].lstrip().upper().startswith("SELECT")
    assert Session.objects.count() == sessions and not response.cookies
    assert Client().head("/readyz").content == b""


def test_readyz_is_503_with_a_short_reason_when_the_database_fails(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> Any:
        raise OperationalError('connection to server at "db.internal" (10.9.9.9) failed')

    monkeypatch.setattr(connection, "cursor", broken)
    client = Client()
    with caplog.at_level(logging.WARNING, logger="sekisho.ops"):
        first = client.get("/readyz")
        second = client.get("/readyz")
    assert first.status_code == second.status_code == 503
    assert first.content == b"not ready: database unavailable\n"
    assert first["Content-Type"] == "text/plain; charset=utf-8"
    assert b"db.internal" not in first.content and b"Traceback" not in first.content
    # The operator learns the cause once from the log, not at every probe.
    logged = [r for r in caplog.records if "database check failed" in r.getMessage()]
    assert len(logged) == 1 and "db.internal" in logged[0].getMessage()
    monkeypatch.undo()
    assert client.get("/readyz").status_code == 200


def test_a_missing_sqlite_file_is_reported_not_created(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "sekisho.sqlite3"

    class NeverOpened:
        vendor = "sqlite"
        settings_dict: dict[str, Any] = {"NAME": str(missing)}

        def is_in_memory_db(self) -> bool:
            return False

        def cursor(self) -> Any:
            raise AssertionError("opening the file would create an empty database")

    monkeypatch.setattr(health, "connections", {"default": NeverOpened()})
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.content == b"not ready: database not initialised\n"
    assert not missing.exists()


def test_readyz_is_503_when_the_keys_cannot_be_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = load_config({"SEKISHO_DATA": str(tmp_path / "elsewhere")})
    monkeypatch.setattr(health, "get_config", lambda: empty)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.content == (b"not ready: master key unreadable; signing key unreadable\n")
    assert str(tmp_path).encode() not in response.content


def test_a_damaged_signing_certificate_is_not_ready(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = get_config().data_dir
    copy = tmp_path / "data"
    copy.mkdir()
    for name in ("master.key", "idp-signing.key"):
        (copy / name).write_bytes((real / name).read_bytes())
    (copy / "idp-signing.crt").write_text("-----BEGIN CERTIFICATE-----\nbroken\n")
    monkeypatch.setattr(health, "get_config", lambda: load_config({"SEKISHO_DATA": str(copy)}))
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.content == b"not ready: signing certificate unreadable\n"


# --- /metrics: who may scrape -------------------------------------------------------------


def test_metrics_from_loopback_in_the_prometheus_text_format() -> None:
    client = Client()  # REMOTE_ADDR 127.0.0.1
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"] == PROMETHEUS_TEXT
    assert response["Cache-Control"] == "no-store"
    assert b"# TYPE sekisho_http_requests_total counter" in response.content
    assert not response.cookies
    head = client.head("/metrics")
    assert head.status_code == 200 and head.content == b""


def test_metrics_are_an_ordinary_404_for_everyone_else() -> None:
    stranger = Client(REMOTE_ADDR="203.0.113.5")
    refused = stranger.get("/metrics")
    unknown = stranger.get("/no-such-page")
    assert refused.status_code == unknown.status_code == 404
    assert refused["Content-Type"] == unknown["Content-Type"]
    assert b"sekisho_" not in refused.content
    assert stranger.head("/metrics").status_code == 404


def test_a_forwarded_for_header_from_an_untrusted_peer_is_not_believed() -> None:
    spoofed = Client(REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert spoofed.get("/metrics").status_code == 404


def test_a_proxy_on_the_same_host_does_not_open_metrics_to_the_internet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # nginx on loopback in front of Sekisho: every socket peer is 127.0.0.1.
    with_config(monkeypatch, trusted_proxies=nets("127.0.0.1/32"))
    through_proxy = Client(HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert through_proxy.get("/metrics").status_code == 404
    assert Client().get("/metrics").status_code == 200  # a scraper on the host itself


def test_the_allow_list_replaces_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    with_config(monkeypatch, metrics_allow=nets("198.51.100.0/24", "2001:db8::/64"))
    assert Client(REMOTE_ADDR="198.51.100.7").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="2001:db8::5").get("/metrics").status_code == 200
    assert Client().get("/metrics").status_code == 404


# --- what the HTTP metrics count ----------------------------------------------------------


def test_requests_count_by_route_not_by_path(make_user: Callable[..., Any]) -> None:
    client = Client()
    signin = {"route": "/signin", "method": "GET", "status": "200"}
    launch = {"route": "/apps/<slug:name>/launch", "method": "GET", "status": "302"}
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    before = {
        k: sample("sekisho_http_requests_total", **v)
        for k, v in {"signin": signin, "launch": launch, "unmatched": unmatched}.items()
    }
    client.get("/signin?SAMLRequest=abc")
    client.get("/apps/some-app-name/launch")
    client.get("/apps/another/launch")
    client.get("/wp-login.php")
    assert sample("sekisho_http_requests_total", **signin) == before["signin"] + 1
    assert sample("sekisho_http_requests_total", **launch) == before["launch"] + 2
    assert sample("sekisho_http_requests_total", **unmatched) == before["unmatched"] + 1
    text = Client().get("/metrics").content.decode()
    assert "some-app-name" not in text and "wp-login" not in text and "SAMLRequest" not in text


def test_probes_and_scrapes_are_not_counted_as_traffic() -> None:
    def total() -> float:
        return sum(
            s.value
            for family in metrics.REGISTRY.collect()
            if family.name == "sekisho_http_requests"
            for s in family.samples
        )

    before = total()
    client = Client()
    for path in ("/healthz", "/readyz", "/metrics"):
        client.get(path)
    assert total() == before


def test_requests_are_timed_by_route_and_status_class() -> None:
    labels = {"route": "/signin", "method": "GET", "status_class": "2xx"}
    before = sample("sekisho_http_request_duration_seconds_count", **labels)
    Client().get("/signin")
    assert sample("sekisho_http_request_duration_seconds_count", **labels) == before + 1
    assert sample("sekisho_http_request_duration_seconds_sum", **labels) > 0


# --- what the audit trail counts, through real sign-ins and launches ------------------------


def test_sign_ins_mfa_and_sso_count_from_their_audit_records(
    make_user: Callable[..., Any],
    connect_app: Any,
    actor: Any,
    clock: Any,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    user = make_user("agent1")
    assignments.assign(connect_app, user=user, actor=actor)
    watched = {
        "unknown": ("sekisho_signins_total", {"result": "failure", "reason": "unknown_user"}),
        "wrong": ("sekisho_signins_total", {"result": "failure", "reason": "invalid_password"}),
        "ok": ("sekisho_signins_total", {"result": "success", "reason": ""}),
        "issued": (
            "sekisho_sso_responses_total",
            {"app": "connect", "result": "issued", "reason": ""},
        ),
        "totp": (
            "sekisho_mfa_verifications_total",
            {"method": "totp", "result": "success", "reason": ""},
        ),
    }
    before = {k: sample(name, **labels) for k, (name, labels) in watched.items()}
    with django_capture_on_commit_callbacks(execute=True):
        client = Client()
        client.post("/signin", {"username": "ghost", "password": "nope nope nope"})
        client.post("/signin", {"username": "agent1", "password": "nope nope nope"})
        sign_in_registering(client, clock, "agent1")
        assert b"SAMLResponse" in client.post("/apps/connect/launch").content
    after = {k: sample(name, **labels) for k, (name, labels) in watched.items()}
    assert {k: after[k] - before[k] for k in watched} == {
        "unknown": 1,
        "wrong": 1,
        "ok": 1,
        "issued": 1,
        "totp": 0,  # registering a device is not a verification
    }
    text = Client().get("/metrics").content.decode()
    assert "agent1" not in text and "ghost" not in text and PASSWORD not in text


def test_locked_and_disabled_sign_ins_count_with_their_reasons(
    make_user: Callable[..., Any],
    actor: Any,
    clock: Any,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    alice = make_user("alice")
    make_user("bob")
    directory.set_status(alice, active=False, actor=actor)

    def count(reason: str) -> float:
        return sample("sekisho_signins_total", result="failure", reason=reason)

    before = {reason: count(reason) for reason in ("user_disabled", "invalid_password", "locked")}
    lockouts = sample("sekisho_lockouts_total", scope="account")
    with django_capture_on_commit_callbacks(execute=True):
        client = Client()
        client.post("/signin", {"username": "alice", "password": PASSWORD})
        for _ in range(5):
            client.post("/signin", {"username": "bob", "password": "wrong wrong wrong"})
        assert client.post("/signin", {"username": "bob", "password": PASSWORD}).status_code == 429
    assert count("user_disabled") == before["user_disabled"] + 1
    assert count("invalid_password") == before["invalid_password"] + 5
    assert count("locked") == before["locked"] + 1
    assert sample("sekisho_lockouts_total", scope="account") == lockouts + 1


def test_a_record_rolled_back_is_never_counted(
    django_capture_on_commit_callbacks: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[str] = []

    def listener(record: Any) -> None:
        heard.append(record["eventName"])

    def failing(record: Any) -> None:
        raise RuntimeError("a broken listener")

    def logout_event() -> records.AuditEvent:
        return records.logout(
            user_uid="u-1",
            identity_store_arn=identity_store_arn(),
            session_id=None,
            source_ip="127.0.0.1",
            user_agent="pytest",
            now=datetime.now(UTC),
        )

    subscribe(listener)
    subscribe(failing)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            with pytest.raises(ZeroDivisionError), transaction.atomic():
                emit(logout_event())
                _ = 1 / 0
            with caplog.at_level(logging.ERROR, logger="sekisho.audit"):
                emit(logout_event())  # the failing listener does not break emit
    finally:
        unsubscribe(listener)
        unsubscribe(failing)
    assert heard == ["Logout"]
    assert any("audit listener failing failed" in r.getMessage() for r in caplog.records)


# --- JSON request log lines ---------------------------------------------------------------


def test_json_mode_logs_each_request_with_its_route_and_never_its_query(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.SEKISHO_LOG_FORMAT = "json"
    client = Client(HTTP_X_REQUEST_ID="req-42")
    with caplog.at_level(logging.INFO, logger="sekisho.request"):
        client.get("/signin?SAMLRequest=c2VjcmV0&RelayState=token123")
        client.post("/signin", {"username": "ghost", "password": "hunter2 hunter2"})
    lines = [JsonFormatter().format(r) for r in caplog.records if r.name == "sekisho.request"]
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["route"] == "/signin" and first["method"] == "GET" and first["status"] == 200
    assert first["request_id"] == "req-42" and first["duration_ms"] >= 0
    assert first["client_ip"] == "127.0.0.1" and first["level"] == "INFO"
    assert second["method"] == "POST" and second["status"] == 401
    joined = "\n".join(lines)
    for secret in ("c2VjcmV0", "token123", "hunter2", "ghost", "sekisho_csrf"):
        assert secret not in joined


def test_plain_mode_logs_each_request_by_route_without_its_query(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The server writes no access log: Sekisho's line is the only one, in either format."""
    settings.SEKISHO_LOG_FORMAT = "plain"
    with caplog.at_level(logging.INFO, logger="sekisho.request"):
        Client().get("/saml/continue/secret-token?SAMLRequest=abc")
    (record,) = [r for r in caplog.records if r.name == "sekisho.request"]
    line = record.getMessage()
    assert line.startswith("127.0.0.1 GET /saml/continue/<str:token> ")
    assert "secret-token" not in line and "SAMLRequest" not in line


def test_a_malformed_request_id_is_not_logged(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.SEKISHO_LOG_FORMAT = "json"
    with caplog.at_level(logging.INFO, logger="sekisho.request"):
        Client(HTTP_X_REQUEST_ID="bad id\nwith newline").get("/healthz")
    (record,) = [r for r in caplog.records if r.name == "sekisho.request"]
    assert json.loads(JsonFormatter().format(record)).get("request_id") is None
