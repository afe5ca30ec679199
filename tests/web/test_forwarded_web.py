"""Forwarded address, scheme and host in the web layer, and HSTS (issue 9, "Proxies").

ClientAddressMiddleware believes forwarding headers only from SEKISHO_TRUSTED_PROXIES and
makes ``request.is_secure()``, ``request.get_host()`` and ``source_ip(request)`` say what it
resolved; a forwarded Host must be the public URL's. HSTS goes on every response when the
public URL is https. The configuration is swapped per test, as an operator would set it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from hypothesis import given, settings
from hypothesis import strategies as st

from sekisho.access import policies
from sekisho.access.policies import Target
from sekisho.audit.models import AuditRecord
from sekisho.audit.writer import Actor
from sekisho.config import Config, get_config
from sekisho.web import middleware
from sekisho.web.http import request_context
from tests.conftest import PASSWORD, password_step, sign_in_registering

PROXY = "192.0.2.10"
CLIENT = "198.51.100.7"
OUTSIDER = "203.0.113.9"
HSTS = "max-age=31536000"
FORWARDING = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_FORWARDED",
)


def configured(*, base_url: str = "http://localhost:8000", proxies: str = "192.0.2.0/24") -> Config:
    return dataclasses.replace(
        get_config(),
        base_url=base_url,
        trusted_proxies=tuple(ipaddress.ip_network(p) for p in proxies.split()),
    )


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Config]:
    """Swap the configuration the middleware reads (HTTP_HOST stays localhost-compatible)."""

    def apply(**kwargs: str) -> Config:
        config = configured(**kwargs)
        monkeypatch.setattr(middleware, "get_config", lambda: config)
        return config

    return apply


def through(
    meta: dict[str, str], *, config: Config | None = None
) -> tuple[HttpResponse, HttpRequest | None]:
    """One GET through ClientAddressMiddleware alone: its response, the request a view saw."""
    seen: dict[str, HttpRequest] = {}

    def view(request: HttpRequest) -> HttpResponse:
        seen["request"] = request
        return HttpResponse("ok")

    handler = middleware.ClientAddressMiddleware(view)
    if config is not None:
        handler.trusted = config.trusted_proxies
        handler.public_host = config.host
    request = RequestFactory().get("/", **{"HTTP_HOST": "localhost:8000", **meta})
    return handler(request), seen.get("request")


# --- what the view sees ---------------------------------------------------------------------------


def test_a_trusted_proxy_sets_address_scheme_and_host() -> None:
    response, request = through(
        {
            "REMOTE_ADDR": PROXY,
            "HTTP_HOST": "127.0.0.1:8000",
            "HTTP_X_FORWARDED_FOR": f"{OUTSIDER}, {CLIENT}",
            "HTTP_X_FORWARDED_PROTO": "https",
            "HTTP_X_FORWARDED_HOST": "localhost:8443",
        },
        config=configured(),
    )
    assert response.status_code == 200 and request is not None
    assert middleware.source_ip(request) == CLIENT
    assert request.is_secure() and request.scheme == "https"
    assert request.get_host() == "localhost:8443"
    assert request.build_absolute_uri("/apps") == "https://localhost:8443/apps"
    assert not [name for name in FORWARDING if name in request.META]


def test_forwarded_from_a_trusted_proxy_counts_too() -> None:
    _, request = through(
        {
            "REMOTE_ADDR": PROXY,
            "HTTP_FORWARDED": f'for="{CLIENT}:4711";proto=https;host="localhost:8443"',
        },
        config=configured(),
    )
    assert request is not None
    assert (middleware.source_ip(request), request.is_secure(), request.get_host()) == (
        CLIENT,
        True,
        "localhost:8443",
    )


def test_an_untrusted_peer_changes_nothing_and_its_headers_are_dropped() -> None:
    _, request = through(
        {
            "REMOTE_ADDR": OUTSIDER,
            "HTTP_X_FORWARDED_FOR": CLIENT,
            "HTTP_X_FORWARDED_PROTO": "https",
            "HTTP_X_FORWARDED_HOST": "evil.example",
            "HTTP_FORWARDED": f"for={CLIENT};proto=https;host=evil.example",
        },
        config=configured(),
    )
    assert request is not None
    assert middleware.source_ip(request) == OUTSIDER
    assert not request.is_secure()
    assert request.get_host() == "localhost:8000"
    assert not [name for name in FORWARDING if name in request.META]


def test_nothing_is_trusted_without_trusted_proxies() -> None:
    _, request = through(
        {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_PROTO": "https", "HTTP_FORWARDED": "proto=https"},
        config=configured(proxies=""),
    )
    assert request is not None and not request.is_secure()


def test_a_trusted_proxy_saying_http_over_a_tls_socket_is_believed() -> None:
    _, request = through(
        {"REMOTE_ADDR": PROXY, "wsgi.url_scheme": "https", "HTTP_X_FORWARDED_PROTO": "http"},
        config=configured(),
    )
    assert request is not None and not request.is_secure()


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8000", "localhost.evil.example", "bad host", "[::1]"]
)
def test_a_forwarded_host_that_is_not_the_public_one_is_refused(host: str) -> None:
    response, request = through(
        {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_HOST": host}, config=configured()
    )
    assert response.status_code == 400 and request is None
    assert b"Bad request" in response.content


def test_the_refusal_is_in_the_callers_language() -> None:
    response, _ = through(
        {
            "REMOTE_ADDR": PROXY,
            "HTTP_FORWARDED": "host=evil.example",
            "HTTP_ACCEPT_LANGUAGE": "ja",
        },
        config=configured(),
    )
    assert response.status_code == 400
    assert "不正なリクエスト".encode() in response.content


def test_the_public_host_is_matched_without_case_port_or_trailing_dot() -> None:
    for host in ("LOCALHOST", "localhost.:8443", "localhost:1"):
        response, request = through(
            {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_HOST": host}, config=configured()
        )
        assert response.status_code == 200 and request is not None, host


def test_django_reads_no_forwarding_header_itself() -> None:
    assert django_settings.SECURE_PROXY_SSL_HEADER is None
    assert django_settings.USE_X_FORWARDED_HOST is False
    assert django_settings.USE_X_FORWARDED_PORT is False
    # Only the request metrics (which read nothing forwarded) wrap HSTS and the resolution.
    assert django_settings.MIDDLEWARE[:3] == [
        "sekisho.web.ops.RequestMetricsMiddleware",
        "sekisho.web.middleware.StrictTransportSecurityMiddleware",
        "sekisho.web.middleware.ClientAddressMiddleware",
    ]


hostile = st.text(max_size=200) | st.text(alphabet='for=,;"\\[]:_ .1httpsloca', max_size=200)


@given(
    peer=st.sampled_from([PROXY, OUTSIDER, "::ffff:192.0.2.10", "", "junk"]),
    values=st.fixed_dictionaries({}, optional={name: hostile for name in FORWARDING}),
)
def test_hostile_forwarding_headers_never_raise(peer: str, values: dict[str, str]) -> None:
    response, request = through({"REMOTE_ADDR": peer, **values}, config=configured())
    assert response.status_code in (200, 400)
    if request is not None:
        request.get_host()  # validated: never DisallowedHost after the middleware let it by
        assert request.scheme in ("http", "https")


# --- aws:SecureTransport and the audit trail through the whole stack -----------------------------

SECURE_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "sekisho:*",
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "true"}},
        }
    ],
}


@pytest.fixture
def secure_only(db: None, actor: Actor) -> None:
    """The IdP admits sign-in and launches over secure transport only."""
    policies.put_policy("SecureOnly", json.dumps(SECURE_ONLY), actor=actor)
    policies.attach("SecureOnly", Target.idp(), actor=actor)
    policies.detach(policies.ALLOW_ALL_NAME, Target.idp(), actor=actor)


@pytest.mark.django_db
def test_secure_transport_through_a_trusted_proxy_satisfies_the_policy(
    configure: Callable[..., Config], secure_only: None, make_user: Callable[..., Any], clock: Any
) -> None:
    configure()
    make_user("agent1")
    via_proxy = Client(
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=CLIENT,
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_X_FORWARDED_HOST="localhost",
    )
    sign_in_registering(via_proxy, clock, "agent1")
    signed_in = AuditRecord.objects.filter(event_name="CredentialVerification").last()
    assert signed_in is not None and signed_in.source_ip == CLIENT


@pytest.mark.django_db
@pytest.mark.parametrize(
    "spoof",
    [
        {"HTTP_X_FORWARDED_PROTO": "https"},
        {"HTTP_FORWARDED": f"for={CLIENT};proto=https"},
        {"HTTP_X_FORWARDED_FOR": CLIENT, "HTTP_X_FORWARDED_PROTO": "https"},
    ],
)
def test_claiming_https_from_an_untrusted_peer_does_not_satisfy_it(
    configure: Callable[..., Config],
    secure_only: None,
    make_user: Callable[..., Any],
    spoof: dict[str, str],
) -> None:
    configure()
    make_user("agent1")
    spoofed = Client(REMOTE_ADDR=OUTSIDER, **spoof)
    response = spoofed.post("/signin", {"username": "agent1", "password": PASSWORD})
    assert response.status_code == 403
    denied = AuditRecord.objects.filter(event_name="UserAuthentication").last()
    assert denied is not None and denied.source_ip == OUTSIDER
    assert "aws:SecureTransport" in denied.record["errorMessage"]


@pytest.mark.django_db
def test_request_context_carries_the_resolved_transport(configure: Callable[..., Config]) -> None:
    configure()
    contexts = []

    def view(request: HttpRequest) -> HttpResponse:
        request.session = {}  # type: ignore[assignment]
        contexts.append(request_context(request))
        return HttpResponse("ok")

    handler = middleware.ClientAddressMiddleware(view)
    factory = RequestFactory()
    handler(factory.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_PROTO="https"))
    handler(factory.get("/", REMOTE_ADDR=OUTSIDER, HTTP_X_FORWARDED_PROTO="https"))
    assert [(c.source_ip, c.secure_transport) for c in contexts] == [
        (PROXY, True),
        (OUTSIDER, False),
    ]


@pytest.mark.django_db
def test_a_launch_sees_the_forwarded_address_and_transport(
    configure: Callable[..., Config],
    secure_only: None,
    make_user: Callable[..., Any],
    connect_app: Any,
    actor: Actor,
    clock: Any,
) -> None:
    from sekisho.saml import assignments

    configure()
    user = make_user("agent1")
    assignments.assign(connect_app, user=user, actor=actor)
    browser = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=CLIENT, HTTP_X_FORWARDED_PROTO="https")
    sign_in_registering(browser, clock, "agent1")
    assert browser.post("/apps/connect/launch").status_code == 200
    issued = AuditRecord.objects.filter(event_name="Federate").last()
    assert issued is not None and issued.outcome == "Success" and issued.source_ip == CLIENT


@pytest.mark.django_db
def test_a_password_step_from_the_proxy_itself_is_the_proxys_address(
    configure: Callable[..., Config], make_user: Callable[..., Any]
) -> None:
    configure()
    make_user("agent1")
    assert password_step(Client(REMOTE_ADDR=PROXY), "agent1") == "/signin/mfa/register"
    record = AuditRecord.objects.filter(event_name="CredentialVerification").last()
    assert record is not None and record.source_ip == PROXY


# --- HSTS ---------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "extra", "status"),
    [
        ("get", "/signin", {}, 200),
        ("get", "/saml/metadata", {}, 200),
        ("get", "/static/sekisho/style.css", {}, 200),
        ("get", "/no-such-page", {}, 404),
        ("post", "/signin", {"CONTENT_LENGTH": str(10**7)}, 413),
        ("get", "/signin", {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_HOST": "evil.example"}, 400),
        ("get", "/signin", {"HTTP_HOST": "evil.example"}, 400),
    ],
)
def test_hsts_on_every_response_when_the_public_url_is_https(
    configure: Callable[..., Config], method: str, path: str, extra: dict[str, str], status: int
) -> None:
    configure(base_url="https://localhost")
    response = getattr(Client(), method)(path, **extra)
    response.close()  # static files stream from an open file
    assert response.status_code == status
    assert response["Strict-Transport-Security"] == HSTS


@pytest.mark.django_db
def test_no_hsts_when_the_public_url_is_http(configure: Callable[..., Config]) -> None:
    configure(base_url="http://localhost:8000")
    secure = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_PROTO="https")
    assert "Strict-Transport-Security" not in secure.get("/signin")


@settings(deadline=None)  # the first request loads templates
@given(
    peer=st.sampled_from([PROXY, OUTSIDER, ""]),
    values=st.fixed_dictionaries({}, optional={name: hostile for name in FORWARDING}),
    secure_public_url=st.booleans(),
)
def test_hostile_forwarding_headers_through_the_whole_stack_are_never_a_500(
    peer: str, values: dict[str, str], secure_public_url: bool
) -> None:
    config = configured(base_url="https://localhost" if secure_public_url else "http://localhost")
    original = middleware.get_config
    middleware.get_config = lambda: config  # hypothesis cannot use function-scoped monkeypatch
    try:
        response = Client(REMOTE_ADDR=peer, **values).get("/saml/metadata")
    finally:
        middleware.get_config = original
    assert response.status_code in (200, 400)
    assert ("Strict-Transport-Security" in response) == secure_public_url
