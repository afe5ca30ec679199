"""Operations endpoints (/healthz, /readyz, /metrics) and per-request metrics and JSON logs.

The endpoints are answered by a middleware that sits right after the client address is
resolved and before sessions, CSRF, locale and the URL router: a probe never reads or
creates a session, never touches ``last_seen``, and is not validated against
ALLOWED_HOSTS (load balancers and Prometheus address a node by its IP).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from sekisho.config import get_config
from sekisho.network import address_in
from sekisho.ops import health, metrics
from sekisho.web.middleware import source_ip

Handler = Callable[[HttpRequest], HttpResponse]

HEALTHZ = "/healthz"
READYZ = "/readyz"
METRICS = "/metrics"
# Set on requests the operations middleware answered: not user traffic, not counted.
OPS_ATTR = "sekisho_ops_endpoint"
UNMATCHED_ROUTE = "unmatched"
STATIC_ROUTE = "/static/"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

request_log = logging.getLogger("sekisho.request")


def _plain(request: HttpRequest, status: int, text: str) -> HttpResponse:
    response = HttpResponse(
        b"" if request.method == "HEAD" else text.encode("utf-8"),
        status=status,
        content_type="text/plain; charset=utf-8",
    )
    response["Cache-Control"] = "no-store"
    return response


def healthz(request: HttpRequest) -> HttpResponse:
    """The process is up and answering; nothing else is looked at."""
    return _plain(request, 200, "ok\n")


def readyz(request: HttpRequest) -> HttpResponse:
    """200 when the database answers and the keys are loaded, else 503 with short reasons."""
    state = health.readiness()
    if state.ready:
        return _plain(request, 200, "ready\n")
    return _plain(request, 503, "not ready: " + "; ".join(state.problems) + "\n")


def metrics_view(request: HttpRequest) -> HttpResponse:
    """This node's counters in Prometheus's text format (every worker of the node)."""
    body = metrics.exposition()
    response = HttpResponse(
        b"" if request.method == "HEAD" else body, content_type=metrics.CONTENT_TYPE
    )
    response["Cache-Control"] = "no-store"
    return response


class OpsEndpointsMiddleware:
    """Answer the operations endpoints before anything that touches sessions or the database.

    /metrics answers only clients in SEKISHO_METRICS_ALLOW, judged by the address the
    rest of Sekisho uses (X-Forwarded-For only through SEKISHO_TRUSTED_PROXIES): a
    reverse proxy on the same host would otherwise make every internet client look like
    loopback. Anyone else falls through to the ordinary 404, as for any unknown path.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        self.metrics_allow = get_config().metrics_allow
        self.views: dict[str, Handler] = {
            HEALTHZ: healthz,
            READYZ: readyz,
            METRICS: metrics_view,
        }

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = self.views.get(request.path_info)
        if view is None:
            return self.get_response(request)
        if view is metrics_view and not address_in(source_ip(request), self.metrics_allow):
            return self.get_response(request)
        setattr(request, OPS_ATTR, True)
        if request.method not in ("GET", "HEAD"):
            response = _plain(request, 405, "method not allowed\n")
            response["Allow"] = "GET, HEAD"
            return response
        return view(request)


def route_of(request: HttpRequest) -> str:
    """The URL pattern that answered (``/apps/<slug:name>/launch``), never the raw path."""
    match = getattr(request, "resolver_match", None)
    if match is not None and match.route is not None:
        return "/" + str(match.route)
    if request.path_info.startswith(str(settings.STATIC_URL)):
        return STATIC_ROUTE
    return UNMATCHED_ROUTE


def request_id(request: HttpRequest, response: HttpResponse) -> str | None:
    """The proxy's X-Request-ID when well-formed, else the emulated AWS API's request id."""
    sent = request.headers.get("X-Request-ID", "")
    if _REQUEST_ID.match(sent):
        return sent
    own = response.headers.get("x-amzn-RequestId")
    return own if own and _REQUEST_ID.match(own) else None


class RequestMetricsMiddleware:
    """Count, time and log every request by route (the server writes no access log).

    The outermost middleware, so the time includes every other layer. The operations
    endpoints are not counted: scrapes and probes are not user traffic. The log line
    (plain or JSON, SEKISHO_LOG_FORMAT) has the route, never the path or query string,
    which can carry SAML messages, pending-request tokens or federation tokens.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        ops = bool(getattr(request, OPS_ATTR, False))
        route = request.path_info if ops else route_of(request)
        if not ops:
            metrics.observe_request(
                route=route,
                method=request.method or "",
                status=response.status_code,
                seconds=elapsed,
            )
        method = metrics.http_labels(route, request.method or "", response.status_code)[1]
        if request_log.isEnabledFor(logging.INFO):
            client = source_ip(request)
            request_log.info(
                "%s %s %s %s %.1fms",
                client,
                method,
                route,
                response.status_code,
                elapsed * 1000,
                extra={
                    "method": method,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(elapsed * 1000, 3),
                    "request_id": request_id(request, response),
                    "client_ip": client,
                },
            )
        return response
