"""HTTP throughput of Sekisho beside SimpleSAMLphp 1.19 on loopback, with wrk and Python clients.

Run: .venv/bin/python bench/bench_http.py            (the whole matrix, about 25 minutes)
     .venv/bin/python bench/bench_http.py --quick    (wrk only, c=4, short runs: a few minutes)

Everything is started here and stopped again: a throwaway PostgreSQL cluster (PostgreSQL's
default durability: fsync and synchronous_commit on), Sekisho on SQLite and on PostgreSQL
(set up with the `sekisho` CLI, served by `sekisho serve --workers 4`), and SimpleSAMLphp
1.19 (nginx + php-fpm with 4 children) through ../shared/peers/simplesamlphp (its
`setup.sh` and `serve.sh`). Runs are interleaved (Sekisho SQLite, Sekisho PostgreSQL,
SimpleSAMLphp, then again ...), and every server is driven by the same clients running the
same flow definitions (``Flow``): wrk with this file's Lua driver (one connection per
thread), and Python (one thread and one requests.Session per concurrent client). Each
response is checked for its status and a SAMLResponse while timed; after each run the last
response of every client is validated with python3-saml in strict mode, untimed. Prints
one markdown table (medians of the runs, ratios to SimpleSAMLphp); the raw JSON lines go
to /tmp.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import html
import http.cookiejar
import io
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import requests

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PEER = REPO.parent / "shared" / "peers" / "simplesamlphp"
LOCK_FILE = Path("/tmp/sekisho-bench-http.lock")  # one benchmark at a time on this machine

# 20 characters: with MFA disabled a password is the only factor and needs 15 (NIST 800-63B).
PASSWORD = "bench-Passw0rd-agent"
AWS_SP = "urn:amazon:webservices"
AWS_ACS = "https://signin.aws.amazon.com/saml"
TEST_SP = "urn:bench:sp-initiated"  # Sekisho's SP-initiated app (the Connect app holds AWS_SP)
CONNECT_APP = "connect"
SP_APP = "spinit"
ROLE = "arn:aws:iam::123456789012:role/ConnectAgent,arn:aws:iam::123456789012:saml-provider/Sekisho"
SAML_MARK = 'name="SAMLResponse"'
AGENTS = 8  # agent1..agent8: one user per concurrent client, so no row is shared by accident
SERVER_WORKERS = 4
PG_PORT = 55441
HTTP_TIMEOUT = 30.0
TOTP_PERIOD = 30
# What python3-saml takes as the URL the Response was posted to (the AWS sign-in ACS).
ACS_REQUEST = {
    "https": "on",
    "http_host": "signin.aws.amazon.com",
    "script_name": "/saml",
    "get_data": {},
    "post_data": {},
}


class BenchError(Exception):
    """A set-up step or a client failed in a way that makes the figures meaningless."""


class FlowError(Exception):
    """A response was not what the flow expects (counted as an error of the run)."""


# ---------------------------------------------------------------- what is measured


# SEKISHO_PASSWORD_HASH values: OWASP's floor (SimpleSAMLphp's argon2id-userpass has the
# same), Keycloak's published sizing, and Sekisho's default.
FLOOR = "argon2id:m=19456,t=2,p=1"
KEYCLOAK = "argon2id:m=7168,t=5,p=1"
DEFAULT = "argon2id:m=65536,t=3,p=1"


@dataclass(frozen=True)
class Scenario:
    """One row group of the table: a flow, the hash parameters and MFA mode it needs."""

    key: str
    flow: str
    title: str
    argon2: str = FLOOR
    mfa: str = "disabled"  # the IdP-wide mode: "disabled" (password only) or "always"
    with_ssp: bool = True
    concurrency: tuple[int, ...] = (4,)
    clients: tuple[str, ...] = ("wrk", "python")


SCENARIOS = (
    Scenario("sso", "sso", "SSO, signed in", concurrency=(1, 4)),
    Scenario("signin", "signin", f"full sign-in, {FLOOR}", concurrency=(1, 4)),
    Scenario("sp-sso", "sp_sso", "SP-initiated SSO, signed in"),
    Scenario("totp", "signin_totp", f"full sign-in + TOTP, {FLOOR}", mfa="always", with_ssp=False),
    Scenario(
        "keycloak",
        "signin",
        f"full sign-in, {KEYCLOAK}",
        KEYCLOAK,
        with_ssp=False,
        clients=("wrk",),
    ),
    Scenario(
        "default", "signin", f"full sign-in, {DEFAULT}", DEFAULT, with_ssp=False, clients=("wrk",)
    ),
)


@dataclass(frozen=True)
class Case:
    """One scenario at one concurrency with one client, run on each of its servers."""

    scenario: Scenario
    client: str
    concurrency: int

    @property
    def name(self) -> str:
        """Short id, e.g. ``sso/wrk/c4``."""
        return f"{self.scenario.key}/{self.client}/c{self.concurrency}"


# ---------------------------------------------------------------- flows, for both clients


@dataclass(frozen=True)
class Capture:
    """Keep the text between ``after`` and the next ``until`` of a body as variable ``var``."""

    var: str
    after: str
    until: str
    unescape: bool = False


@dataclass(frozen=True)
class Step:
    """One HTTP request of a flow and what its response must be.

    ``path`` and form values are templates: ``{name}`` is a variable (the worker's, a
    per-unit input, a capture, or ``location``/``location_path`` of the last redirect) and
    ``{cookie.NAME}`` a cookie of the client's jar.
    """

    method: str
    path: str
    form: tuple[tuple[str, str], ...] = ()
    expect: int = 200
    location: str = ""  # the redirect's Location must start with this
    contains: str = ""
    captures: tuple[Capture, ...] = ()

    def as_lua(self) -> dict[str, Any]:
        """The step for the wrk driver's Lua table."""
        return {
            "method": self.method,
            "path": self.path,
            "form": [list(pair) for pair in self.form],
            "expect": self.expect,
            "location": self.location,
            "contains": self.contains,
            "captures": [
                {"var": c.var, "after": c.after, "until": c.until, "unescape": c.unescape}
                for c in self.captures
            ],
        }


@dataclass(frozen=True)
class Flow:
    """The requests of one unit of work (one SSO, one sign-in), repeated by each client.

    ``fresh_jar``: every unit starts from the worker's initial cookies (a new browser);
    otherwise the jar carries on (a signed-in browser). ``feed``: per-unit inputs, "authn"
    (a new AuthnRequest) or "totp" (a user whose code for this 30-second step is unused).
    """

    steps: tuple[Step, ...]
    fresh_jar: bool = False
    feed: str = ""

    def as_lua(self) -> dict[str, Any]:
        """The flow for the wrk driver's Lua table."""
        return {"fresh_jar": self.fresh_jar, "steps": [s.as_lua() for s in self.steps]}


CSRF = ("csrfmiddlewaretoken", "{cookie.sekisho_csrf}")
SEKISHO_LAUNCH = Step("POST", "/apps/{app}/launch", form=(CSRF,), contains=SAML_MARK)


def sekisho_password(then: str) -> tuple[Step, ...]:
    """GET /signin (the CSRF cookie) and POST the password; it redirects to ``then``.

    Django accepts the CSRF cookie's raw 32-character secret as the form token. After the
    sign-in rotates it, Python posts the new cookie; wrk's Lua sees only the last
    Set-Cookie of a response (the session's), so it posts the pair it had, which Django's
    check (token against the cookie sent) accepts just the same.
    """
    credentials = (CSRF, ("username", "{user}"), ("password", "{password}"), ("next", "/apps"))
    return (
        Step("GET", "/signin", contains="csrfmiddlewaretoken"),
        Step("POST", "/signin", form=credentials, expect=302, location=then),
    )


SEKISHO_FLOWS = {
    "sso": Flow((SEKISHO_LAUNCH,)),
    "signin": Flow((*sekisho_password("/apps"), SEKISHO_LAUNCH), fresh_jar=True),
    "signin_totp": Flow(
        (
            *sekisho_password("/signin/mfa"),
            Step(
                "POST",
                "/signin/mfa/totp",
                form=(CSRF, ("code", "{code}")),
                expect=302,
                location="/apps",
            ),
            SEKISHO_LAUNCH,
        ),
        fresh_jar=True,
        feed="totp",
    ),
    # A signed-in session's AuthnRequest by HTTP-Redirect is answered in one response.
    "sp_sso": Flow((Step("GET", "/saml/sso?{samlrequest}", contains=SAML_MARK),), feed="authn"),
}
# First sign-in of a TOTP user: the password, then the authenticator app's registration
# (the secret from the page, a code computed from it), the recovery codes, continue.
SEKISHO_TOTP_REGISTRATION = (
    (
        *sekisho_password("/signin/mfa/register"),
        Step(
            "GET",
            "/signin/mfa/register/totp",
            captures=(Capture("secret", 'id="totp-secret">', "<"),),
        ),
    ),
    (
        Step(
            "POST",
            "/signin/mfa/register/totp",
            form=(CSRF, ("code", "{code}"), ("device_name", "phone")),
            contains="recovery-codes",
        ),
        Step("POST", "/signin/continue", form=(CSRF,), expect=302, location="/apps"),
    ),
)

SSP_SSO = "/simplesaml/saml2/idp/SSOService.php"
SSP_IDP_INITIATED = f"{SSP_SSO}?{urllib.parse.urlencode({'spentityid': AWS_SP})}"
SSP_FLOWS = {
    "sso": Flow((Step("GET", SSP_IDP_INITIATED, contains=SAML_MARK),)),
    # sspclient.full_login's three requests: SSO (302), the login form (AuthState), POST.
    "signin": Flow(
        (
            Step(
                "GET",
                SSP_IDP_INITIATED,
                expect=302,
                location="/simplesaml/module.php/core/loginuserpass.php",
            ),
            Step(
                "GET",
                "{location}",
                captures=(Capture("authstate", 'name="AuthState" value="', '"', unescape=True),),
            ),
            Step(
                "POST",
                "{location_path}",
                form=(
                    ("username", "{user}"),
                    ("password", "{password}"),
                    ("AuthState", "{authstate}"),
                ),
                contains=SAML_MARK,
            ),
        ),
        fresh_jar=True,
    ),
    "sp_sso": Flow((Step("GET", f"{SSP_SSO}?{{samlrequest}}", contains=SAML_MARK),), feed="authn"),
}


# ---------------------------------------------------------------- per-unit inputs


def authn_request_query(
    *, request_id: str, issuer: str, destination: str, now: datetime | None = None
) -> str:
    """An unsigned AuthnRequest for the HTTP-Redirect binding: deflate, base64, URL-encode.

    saml-bindings §3.4.4.1; it asks for the HTTP-POST binding at the AWS sign-in ACS.
    """
    instant = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    xml = (
        '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
        f'ID="{request_id}" Version="2.0" IssueInstant="{instant}" '
        f'Destination="{html.escape(destination)}" '
        f'AssertionConsumerServiceURL="{AWS_ACS}" '
        'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">'
        f"<saml:Issuer>{html.escape(issuer)}</saml:Issuer>"
        "</samlp:AuthnRequest>"
    )
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw DEFLATE, no zlib header
    raw = compressor.compress(xml.encode()) + compressor.flush()
    message = base64.b64encode(raw).decode("ascii")
    return urllib.parse.urlencode({"SAMLRequest": message, "RelayState": "bench"})


class AuthnFeed:
    """A fresh AuthnRequest (unique ID, current IssueInstant) for every unit."""

    kind = "lines"

    def __init__(self, issuer: str, destination: str) -> None:
        self.issuer = issuer
        self.destination = destination

    def next(self) -> dict[str, str]:
        """The variables of one unit: ``request_id`` and the ``samlrequest`` query string."""
        request_id = "_" + secrets.token_hex(16)
        query = authn_request_query(
            request_id=request_id, issuer=self.issuer, destination=self.destination
        )
        return {"request_id": request_id, "samlrequest": query}

    def write(self, path: Path, units: int) -> dict[str, Any]:
        """Requests made in advance for a wrk thread, one ``id<TAB>query`` per line."""
        with path.open("w") as out:
            for _ in range(units):
                unit = self.next()
                out.write(f"{unit['request_id']}\t{unit['samlrequest']}\n")
        return {}


@dataclass
class TotpUser:
    """A user with a registered authenticator app, and the last 30-second step used."""

    index: int
    name: str
    secret: str
    last_step: int


def time_step(at: float) -> int:
    """RFC 6238's T for a Unix time."""
    return int(at) // TOTP_PERIOD


def totp_code(secret: str, step: int) -> str:
    """The code an authenticator app shows during ``step``."""
    from sekisho.mfa.totp import code_at

    return code_at(secret=secret, now=datetime.fromtimestamp(step * TOTP_PERIOD, UTC))


class TotpFeed:
    """Users of one client in turn, each at most once per 30-second step (RFC 6238 §5.2).

    When every user of the client has had this step, the client waits for the next one
    (counted as ``starved``: the pool is too small for the rate).
    """

    kind = "totp"

    def __init__(self, users: list[TotpUser]) -> None:
        self.users = users
        self.cursor = 0
        self.starved = 0

    def next(self) -> dict[str, str]:
        """The variables of one unit: ``user`` and ``code``."""
        while True:
            now = time.time()
            step = time_step(now)
            for _ in range(len(self.users)):
                user = self.users[self.cursor]
                self.cursor = (self.cursor + 1) % len(self.users)
                if user.last_step < step:
                    user.last_step = step
                    return {"user": user.name, "code": totp_code(user.secret, step)}
            self.starved += 1
            time.sleep((step + 1) * TOTP_PERIOD - now + 0.05)

    def write(self, path: Path, units: int) -> dict[str, Any]:
        """The users for a wrk thread with their codes for the steps a run can reach."""
        first = time_step(time.time())
        steps = range(first, first + units)
        with path.open("w") as out:
            for user in self.users:
                codes = " ".join(totp_code(user.secret, step) for step in steps)
                out.write(f"{user.index}\t{user.name}\t{user.last_step}\t{codes}\n")
        return {"first_step": first}


Feed = AuthnFeed | TotpFeed


@dataclass
class Worker:
    """What one client starts with: variables, cookies (a signed-in session), its feed."""

    vars: dict[str, str]
    cookies: dict[str, str] = field(default_factory=dict)
    feed: Feed | None = None


# ---------------------------------------------------------------- the Python client

_PLACEHOLDER = re.compile(r"\{([\w.]+)\}")
_SET_COOKIE = re.compile(r"^\s*([^=;\s]+)=([^;]*)")
_SCHEME_HOST = re.compile(r"^[A-Za-z]+://[^/]+")
_SAML_RESPONSE = re.compile(r'name="SAMLResponse" value="([^"]+)"')


def expand(template: str, variables: Mapping[str, str], jar: Mapping[str, str]) -> str:
    """Fill a step's template from the variables and the cookie jar (as the Lua driver does)."""

    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key.startswith("cookie."):
            return jar.get(key[len("cookie.") :], "")
        return variables.get(key, "")

    return _PLACEHOLDER.sub(value, template)


def check_response(
    number: int, step: Step, status: int, location: str, body: str, variables: dict[str, str]
) -> None:
    """Raise FlowError unless the response is what ``step`` expects; store its captures."""
    if status != step.expect:
        raise FlowError(f"step {number}: HTTP {status}")
    if step.location and not location.startswith(step.location):
        raise FlowError(f"step {number}: Location {location[:80]!r}")
    if step.contains and step.contains not in body:
        raise FlowError(f"step {number}: no {step.contains!r}")
    for capture in step.captures:
        start = body.find(capture.after)
        end = body.find(capture.until, start + len(capture.after)) if start >= 0 else -1
        if end < 0:
            raise FlowError(f"step {number}: no {capture.var}")
        value = body[start + len(capture.after) : end]
        variables[capture.var] = html.unescape(value) if capture.unescape else value


class FlowClient:
    """One Python client: a keep-alive connection (requests.Session) and a cookie jar.

    Cookies are kept by hand, as the Lua driver keeps them, so that both send the same
    requests (requests' own jar would not send Secure cookies to http://127.0.0.1).
    """

    def __init__(self, base: str, worker: Worker) -> None:
        self.base = base
        self.worker = worker
        self.http = requests.Session()
        self.http.trust_env = False  # loopback only: never through a proxy
        self.http.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self.http.headers["Accept-Encoding"] = "identity"
        self.jar = dict(worker.cookies)
        self.requests = 0

    def __enter__(self) -> FlowClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def send(self, number: int, step: Step, variables: dict[str, str]) -> str:
        """One request; returns the body once the response passed the step's checks."""
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.jar.items())} if self.jar else {}
        form = [(name, expand(value, variables, self.jar)) for name, value in step.form]
        response = self.http.request(
            step.method,
            self.base + expand(step.path, variables, self.jar),
            data=form or None,
            headers=headers,
            allow_redirects=False,
            timeout=HTTP_TIMEOUT,
        )
        self.requests += 1
        for header in response.raw.headers.getlist("Set-Cookie"):
            cookie = _SET_COOKIE.match(header)
            if cookie:
                self.jar[cookie.group(1)] = cookie.group(2)
        location = _SCHEME_HOST.sub("", response.headers.get("Location", ""))
        if location:
            variables["location"] = location
            variables["location_path"] = location.split("?", 1)[0]
        body = response.content.decode("utf-8", "replace")
        check_response(number, step, response.status_code, location, body, variables)
        return body

    def run(self, steps: Sequence[Step], variables: dict[str, str]) -> str:
        """The steps in order; the last body."""
        body = ""
        for number, step in enumerate(steps, 1):
            body = self.send(number, step, variables)
        return body

    def inputs(self) -> dict[str, str]:
        """The next unit's own inputs (a TOTP feed may wait here for the next step)."""
        return self.worker.feed.next() if self.worker.feed is not None else {}

    def unit(self, flow: Flow, inputs: Mapping[str, str] | None = None) -> tuple[str, str]:
        """One unit of the flow; (the last body, the AuthnRequest ID if any)."""
        if flow.fresh_jar:
            self.jar = dict(self.worker.cookies)
        variables = {**self.worker.vars, **(self.inputs() if inputs is None else inputs)}
        return self.run(flow.steps, variables), variables.get("request_id", "")


def saml_response(body: str) -> str | None:
    """The SAMLResponse of an auto-POST page."""
    match = _SAML_RESPONSE.search(body)
    return html.unescape(match.group(1)) if match else None


@dataclass
class RawRun:
    """What a client reports for one timed run."""

    units: int
    errors: int
    elapsed: float
    latencies: list[float]
    responses: list[tuple[str, str]]  # each client's last (SAMLResponse, AuthnRequest ID)
    http_requests: int
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class _ClientTally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    last: tuple[str, str] | None = None
    last_error: str = ""
    end: float = 0.0


def run_python(base: str, flow: Flow, workers: list[Worker], duration: float) -> RawRun:
    """One thread and one FlowClient per worker, each looping over units until the deadline."""
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(FlowClient(base, w)) for w in workers]
        return _run_threads(clients, flow, workers, duration)


def _run_threads(
    clients: list[FlowClient], flow: Flow, workers: list[Worker], duration: float
) -> RawRun:
    tallies = [_ClientTally() for _ in clients]
    go = threading.Event()
    deadline = [0.0]

    def loop(client: FlowClient, tally: _ClientTally) -> None:
        go.wait()
        while time.perf_counter() < deadline[0]:
            inputs = client.inputs()  # untimed: waiting for a fresh TOTP step is no work
            started = time.perf_counter()
            if started >= deadline[0]:
                break
            try:
                tally.last = client.unit(flow, inputs)
                tally.latencies.append(time.perf_counter() - started)
            except (FlowError, requests.RequestException) as exc:
                tally.errors += 1
                tally.last_error = str(exc)[:200]
        tally.end = time.perf_counter()

    threads = [
        threading.Thread(target=loop, args=pair, daemon=True)
        for pair in zip(clients, tallies, strict=True)
    ]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    deadline[0] = started + duration
    go.set()
    for thread in threads:
        thread.join(duration + HTTP_TIMEOUT * 8)
    if any(thread.is_alive() for thread in threads):
        raise BenchError("a Python client did not finish its run")
    responses = []
    for tally in tallies:
        saml = saml_response(tally.last[0]) if tally.last else None
        if saml:
            responses.append((saml, tally.last[1] if tally.last else ""))
    notes: dict[str, Any] = {}
    starved = sum(w.feed.starved for w in workers if isinstance(w.feed, TotpFeed))
    if starved:
        notes["starved"] = starved
    errors = [t.last_error for t in tallies if t.last_error]
    if errors:
        notes["last_errors"] = errors[:3]
    return RawRun(
        units=sum(len(t.latencies) for t in tallies),
        errors=sum(t.errors for t in tallies),
        elapsed=max(t.end for t in tallies) - started,
        latencies=[x for t in tallies for x in t.latencies],
        responses=responses,
        http_requests=sum(c.requests for c in clients),
        notes=notes,
    )


# ---------------------------------------------------------------- the wrk client

# One wrk thread = one connection = one client, running the flow of $BENCH_WRK_CONFIG (a Lua
# table this file writes) exactly as FlowClient does; per-unit latency from the first
# request to the last response; results go to $BENCH_WRK_OUT as tab-separated lines.
WRK_LUA = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) * 1e-9
end

local config = dofile(os.getenv("BENCH_WRK_CONFIG"))
local flow = config.flow
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function unescape_html(s)
  s = s:gsub("&quot;", '"'):gsub("&#0*39;", "'"):gsub("&#x27;", "'")
  s = s:gsub("&lt;", "<"):gsub("&gt;", ">")
  return (s:gsub("&amp;", "&"))
end

local function expand(template)
  return (template:gsub("{([%w_.]+)}", function(key)
    if key:sub(1, 7) == "cookie." then return jar[key:sub(8)] or "" end
    return vars[key] or ""
  end))
end

function init(args)
  me = config.threads[id]
  vars, base_jar = copy(me.vars), copy(me.cookies)
  jar = copy(base_jar)
  units, bad, starved, exhausted = 0, 0, 0, 0
  lats, used, last_bad, last_body, last_request_id = {}, {}, "", "", ""
  step, started, feed, feed_pos, totp_users = 1, 0, {}, 0, {}
  if me.feed ~= "" then
    for line in io.lines(me.feed) do
      if me.feed_kind == "totp" then
        local index, name, last, codes = line:match("^(%d+)\t([^\t]+)\t(%-?%d+)\t(.*)$")
        local list = {}
        for code in codes:gmatch("%d+") do list[#list + 1] = code end
        totp_users[#totp_users + 1] =
          {index = index, name = name, last = tonumber(last), codes = list}
      else
        feed[#feed + 1] = line
      end
    end
  end
end

-- A TOTP client whose users all had this 30-second step waits for the next one (wrk
-- calls delay() before each request), as the Python client does: counted as starved.
function delay()
  if step ~= 1 or me.feed_kind ~= "totp" then return 0 end
  local seconds = os.time()
  local current = math.floor(seconds / 30)
  for _, user in ipairs(totp_users) do
    if user.last < current then return 0 end
  end
  starved = starved + 1
  return ((current + 1) * 30 - seconds) * 1000 + 50
end

local function next_input()
  if me.feed_kind == "lines" then
    feed_pos = feed_pos + 1
    if feed_pos > #feed then feed_pos, exhausted = 1, exhausted + 1 end
    vars.request_id, vars.samlrequest = feed[feed_pos]:match("^([^\t]*)\t(.*)$")
  elseif me.feed_kind == "totp" then
    local current = math.floor(os.time() / 30)
    local user = nil
    for _ = 1, #totp_users do
      feed_pos = feed_pos % #totp_users + 1
      if totp_users[feed_pos].last < current then user = totp_users[feed_pos]; break end
    end
    if user == nil then  -- only when the clock moved back: the server will refuse it
      user = totp_users[feed_pos]
    end
    user.last, used[user.index] = current, current
    vars.user, vars.code = user.name, user.codes[current - me.first_step + 1] or "000000"
  end
end

function request()
  if step == 1 then
    if flow.fresh_jar then jar = copy(base_jar) end
    next_input()
    started = now()
  end
  local s = flow.steps[step]
  local headers, cookies, body = {}, {}, nil
  for name, value in pairs(jar) do cookies[#cookies + 1] = name .. "=" .. value end
  if #cookies > 0 then headers["Cookie"] = table.concat(cookies, "; ") end
  if #s.form > 0 then
    local fields = {}
    for _, pair in ipairs(s.form) do
      fields[#fields + 1] = pair[1] .. "=" .. urlencode(expand(pair[2]))
    end
    body = table.concat(fields, "&")
    headers["Content-Type"] = "application/x-www-form-urlencoded"
  end
  return wrk.format(s.method, expand(s.path), headers, body)
end

local function fail(why)
  bad, last_bad, step = bad + 1, why, 1
end

function response(status, headers, body)
  local s = flow.steps[step]
  local location = ""
  for name, value in pairs(headers) do  -- wrk keeps only the last of repeated headers
    local lower = name:lower()
    if lower == "set-cookie" then
      local key, val = value:match("^%s*([^=;%s]+)=([^;]*)")
      if key then jar[key] = val end
    elseif lower == "location" then
      location = value:gsub("^%a+://[^/]+", "")
      vars.location, vars.location_path = location, location:gsub("%?.*$", "")
    end
  end
  if status ~= s.expect then return fail(string.format("step %d: HTTP %d", step, status)) end
  if s.location ~= "" and location:sub(1, #s.location) ~= s.location then
    return fail(string.format("step %d: Location %s", step, location:sub(1, 80)))
  end
  if s.contains ~= "" and not body:find(s.contains, 1, true) then
    return fail(string.format("step %d: no %s", step, s.contains))
  end
  for _, c in ipairs(s.captures) do
    local from = body:find(c.after, 1, true)
    local till = from and body:find(c["until"], from + #c.after, true)
    if not till then return fail(string.format("step %d: no %s", step, c.var)) end
    local value = body:sub(from + #c.after, till - 1)
    vars[c.var] = c.unescape and unescape_html(value) or value
  end
  if step < #flow.steps then
    step = step + 1
    return
  end
  units, step = units + 1, 1
  lats[#lats + 1] = now() - started
  last_body, last_request_id = body, vars.request_id or ""
end

function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("BENCH_WRK_OUT"), "w"))
  local e = summary.errors
  out:write(string.format("summary\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", summary.duration,
    summary.requests, e.connect, e.read, e.write, e.status, e.timeout))
  for _, thread in ipairs(threads) do
    out:write(string.format("thread\t%d\t%d\t%d\t%d\t%s\n", thread:get("units"),
      thread:get("bad"), thread:get("starved"), thread:get("exhausted"), thread:get("last_bad")))
    for _, lat in ipairs(thread:get("lats")) do out:write(string.format("lat\t%.7f\n", lat)) end
    for index, step in pairs(thread:get("used")) do
      out:write(string.format("used\t%s\t%d\n", index, step))
    end
    local saml = thread:get("last_body"):match('name="SAMLResponse" value="([^"]+)"')
    if saml then out:write("saml\t", thread:get("last_request_id"), "\t", saml, "\n") end
  end
  out:close()
end
"""


def lua_literal(value: Any) -> str:
    """A Lua 5.1 literal for JSON-like data (strings escaped byte by byte)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = "".join(
            chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\{b:03d}" for b in value.encode()
        )
        return f'"{escaped}"'
    if isinstance(value, Mapping):
        items = ", ".join(f"[{lua_literal(k)}] = {lua_literal(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, list | tuple):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    raise TypeError(f"no Lua literal for {type(value).__name__}")


def feed_units(flow: Flow, duration: float) -> int:
    """How many per-unit inputs to prepare for a wrk thread (steps, for TOTP codes)."""
    if flow.feed == "totp":
        return int(duration) // TOTP_PERIOD + 3
    return int(400 * duration) + 500


def run_wrk(
    base: str,
    flow: Flow,
    workers: list[Worker],
    duration: float,
    scratch: Path,
    on_used: Callable[[int, int], None] | None = None,
) -> RawRun:
    """wrk -t N -c N with the Lua driver; the flow and each thread's start in a Lua table."""
    scratch.mkdir(parents=True, exist_ok=True)
    threads = []
    for number, worker in enumerate(workers, 1):
        thread: dict[str, Any] = {
            "vars": worker.vars,
            "cookies": worker.cookies,
            "feed_kind": worker.feed.kind if worker.feed else "",
            "feed": "",
        }
        if worker.feed is not None:
            path = scratch / f"feed-{number}.txt"
            thread.update(worker.feed.write(path, feed_units(flow, duration)), feed=str(path))
        threads.append(thread)
    config = scratch / "config.lua"
    config.write_text("return " + lua_literal({"flow": flow.as_lua(), "threads": threads}) + "\n")
    script = scratch / "driver.lua"
    script.write_text(WRK_LUA)
    out = scratch / "out.tsv"
    out.unlink(missing_ok=True)
    seconds = max(1, round(duration))
    command = [
        "wrk",
        "-t",
        str(len(workers)),
        "-c",
        str(len(workers)),
        "-d",
        f"{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        base + "/",
    ]
    env = dict(os.environ, BENCH_WRK_CONFIG=str(config), BENCH_WRK_OUT=str(out))
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0 or not out.exists():
        raise BenchError(
            f"wrk failed ({done.returncode}): {done.stderr[-500:]}{done.stdout[-500:]}"
        )
    return parse_wrk_output(out.read_text(), on_used)


def parse_wrk_output(text: str, on_used: Callable[[int, int], None] | None) -> RawRun:
    """Read the Lua driver's tab-separated results."""
    units = bad = starved = exhausted = 0
    latencies: list[float] = []
    responses: list[tuple[str, str]] = []
    last_bad: list[str] = []
    summary: list[int] = []
    for line in text.splitlines():
        kind, _, rest = line.partition("\t")
        fields = rest.split("\t")
        if kind == "summary":
            summary = [int(x) for x in fields]
        elif kind == "thread":
            units += int(fields[0])
            bad += int(fields[1])
            starved += int(fields[2])
            exhausted += int(fields[3])
            if fields[4]:
                last_bad.append(fields[4])
        elif kind == "lat":
            latencies.append(float(fields[0]))
        elif kind == "used" and on_used is not None:
            on_used(int(fields[0]), int(fields[1]))
        elif kind == "saml":
            responses.append((html.unescape(fields[1]), fields[0]))
    duration_us, http_requests, connect, read, write, _status, timeout = summary
    notes: dict[str, Any] = {
        "wrk_errors": {"connect": connect, "read": read, "write": write, "timeout": timeout}
    }
    if starved:
        notes["starved"] = starved
    if exhausted:
        notes["feed_exhausted"] = exhausted
    if last_bad:
        notes["last_errors"] = last_bad[:3]
    return RawRun(
        units=units,
        errors=bad + connect + read + write + timeout,
        elapsed=duration_us / 1e6,
        latencies=latencies,
        responses=responses,
        http_requests=http_requests,
        notes=notes,
    )


# ---------------------------------------------------------------- validation


class Validator:
    """python3-saml in strict mode as the SP would judge a Response (signature, audience,
    Destination, validity window, InResponseTo when the SP sent a request)."""

    def __init__(self, idp_metadata: str, sp_entity_id: str) -> None:
        from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
        from onelogin.saml2.settings import OneLogin_Saml2_Settings

        idp = OneLogin_Saml2_IdPMetadataParser.parse(idp_metadata)["idp"]
        self.settings = OneLogin_Saml2_Settings(
            {
                "strict": True,
                "sp": {
                    "entityId": sp_entity_id,
                    "assertionConsumerService": {
                        "url": AWS_ACS,
                        "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
                    },
                },
                "idp": idp,
                "security": {
                    "wantAssertionsSigned": True,
                    "wantNameId": True,
                    "rejectDeprecatedAlgorithm": True,
                },
            },
            sp_validation_only=True,
        )

    def error(self, saml_b64: str, request_id: str) -> str | None:
        """None when valid, else python3-saml's reason."""
        from onelogin.saml2.response import OneLogin_Saml2_Response

        try:
            response = OneLogin_Saml2_Response(self.settings, saml_b64)
            if response.is_valid(ACS_REQUEST, request_id=request_id or None):
                return None
            return str(response.get_error() or "invalid")
        except Exception as exc:  # a malformed Response is a failed check, not a crash
            return f"{type(exc).__name__}: {exc}"[:300]


# ---------------------------------------------------------------- processes and CPU


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


TICK = os.sysconf("SC_CLK_TCK")


def process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, CPU ticks of the process and its reaped children) from /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        table[int(entry)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))
    return table


def tree_cpu_seconds(roots: Sequence[int]) -> float:
    """CPU seconds used so far by the process trees under ``roots``."""
    table = process_table()
    tree = {pid for pid in roots if pid in table}
    grew = True
    while grew:
        children = {pid for pid, (ppid, _) in table.items() if ppid in tree} - tree
        tree |= children
        grew = bool(children)
    return sum(table[pid][1] for pid in tree) / TICK


@dataclass(frozen=True)
class Snapshot:
    """Clocks and CPU counters at one instant: the server's, this process's, the machine's."""

    wall: float
    server: float
    own: float
    children: float
    machine_total: float
    machine_idle: float
    load: float

    @classmethod
    def take(cls, roots: Sequence[int]) -> Snapshot:
        """Read everything now."""
        with open("/proc/stat") as stat:
            ticks = [int(x) for x in stat.readline().split()[1:]]
        times = os.times()
        reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
        return cls(
            wall=time.perf_counter(),
            server=tree_cpu_seconds(roots),
            own=times.user + times.system,
            children=reaped.ru_utime + reaped.ru_stime,
            machine_total=sum(ticks) / TICK,
            machine_idle=(ticks[3] + ticks[4]) / TICK,
            load=os.getloadavg()[0],
        )


def stop_group(proc: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """Stop a server started in its own session (its process group), then reap it."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def wait_until_up(url: str, timeout: float = 90.0) -> None:
    """Poll ``url`` until it answers 200."""
    deadline = time.monotonic() + timeout
    with requests.Session() as http:
        http.trust_env = False
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if http.get(url, timeout=5).status_code == 200:
                    return
            time.sleep(0.3)
    raise BenchError(f"{url} did not answer within {timeout:.0f} s")


class PostgresCluster:
    """A throwaway cluster on 127.0.0.1, as scripts/run-tests.sh starts one, but with
    PostgreSQL's default durability (fsync, synchronous_commit) and small shared buffers."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.root = Path(tempfile.mkdtemp(prefix="sekisho-bench-pg."))
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
        if not found:
            raise BenchError("PostgreSQL server binaries not found under /usr/lib/postgresql")
        self.bin = found[-1]
        self.running = False

    def _run(self, *argv: str) -> None:
        # PostgreSQL refuses to run as root: run it as the unprivileged 'postgres' user then.
        command = ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise BenchError(f"{Path(argv[0]).name} failed: {done.stderr[-800:]}")

    def start(self) -> None:
        """initdb and start on loopback only."""
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        data = str(self.root / "data")
        self._run(
            str(self.bin / "initdb"), "-D", data, "-U", "sekisho", "--auth=trust", "-E", "UTF8"
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c shared_buffers=64MB"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            data,
            "-l",
            str(self.root / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )
        self.running = True

    def create_database(self, name: str) -> str:
        """A new database; its DATABASE_URL."""
        import psycopg

        admin = f"postgresql://sekisho@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://sekisho@127.0.0.1:{self.port}/{name}"

    def postmaster_pids(self) -> list[int]:
        """The postmaster, whose children are the backends serving Sekisho's workers."""
        pid_file = self.root / "data" / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            return [int(pid_file.read_text().splitlines()[0])]
        return []

    def stop(self) -> None:
        """Stop the cluster and remove it."""
        if self.running:
            with contextlib.suppress(BenchError, subprocess.TimeoutExpired):
                self._run(
                    str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "stop"
                )
            self.running = False
        shutil.rmtree(self.root, ignore_errors=True)


SP_METADATA = f"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    entityID="{TEST_SP}">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"
      AuthnRequestsSigned="false" WantAssertionsSigned="true">
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
        Location="{AWS_ACS}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"""


Command = tuple[list[str], str | None]  # a `sekisho` command line and its standard input


def setup_commands(metadata: Path) -> list[Command]:
    """The `sekisho` commands that set up MFA, the group and the two apps assigned to it."""
    return [
        (["mfa", "configure", "--mode", "disabled"], None),
        (["group", "create", "agents"], None),
        (
            [
                "app",
                "create-amazon-connect",
                CONNECT_APP,
                "--region",
                "us-east-1",
                "--instance-id",
                "11111111-2222-3333-4444-555555555555",
                "--account-id",
                "123456789012",
                "--role-name",
                "ConnectAgent",
                "--provider-name",
                "Sekisho",
            ],
            None,
        ),
        (
            [
                "app",
                "create-saml",
                SP_APP,
                "--metadata",
                str(metadata),
                "--name-id-format",
                "emailAddress",
                "--attribute",
                f"https://aws.amazon.com/SAML/Attributes/Role={ROLE};uri",
                "--attribute",
                "https://aws.amazon.com/SAML/Attributes/RoleSessionName=${user:username};uri",
            ],
            None,
        ),
        (["app", "assign", CONNECT_APP, "--group", "agents"], None),
        (["app", "assign", SP_APP, "--group", "agents"], None),
    ]


def user_commands(users: Sequence[str]) -> list[Command]:
    """`sekisho user create` (password on stdin) and membership of the apps' group."""
    commands: list[Command] = []
    for name in users:
        create = ["user", "create", name, "--email", f"{name}@example.com", "--password-stdin"]
        commands += [(create, PASSWORD + "\n"), (["group", "add-member", "agents", name], None)]
    return commands


class SekishoInstallation:
    """Sekisho as an operator has it: a data directory, perhaps PostgreSQL, the `sekisho`
    CLI, and one `sekisho serve --workers 4` process."""

    def __init__(
        self,
        key: str,
        label: str,
        root: Path,
        database_url: str | None = None,
        database_pids: Callable[[], list[int]] = list,
    ) -> None:
        self.key = key
        self.label = label
        self.root = root
        self.database_url = database_url
        self.database_pids = database_pids
        self.port = free_port()
        self.password_hash = FLOOR
        self.mfa_mode = ""
        self.proc: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)

    @property
    def base_url(self) -> str:
        """SEKISHO_BASE_URL (a name, as the README asks; clients connect to 127.0.0.1)."""
        return f"http://localhost:{self.port}"

    @property
    def client_url(self) -> str:
        """Where the clients send their requests."""
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The environment of every Sekisho process of this installation."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("SEKISHO_")
            and k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
            and not k.lower().endswith("_proxy")
        }
        env.update(
            SEKISHO_DATA=str(self.root / "data"),
            SEKISHO_BASE_URL=self.base_url,
            SEKISHO_PASSWORD_HASH=self.password_hash,
            PYTHONUNBUFFERED="1",
        )
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        return env

    def cli(self, *args: str) -> str:
        """`sekisho ARGS`; its stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "sekisho.cli.main", *args],
            env=self.env(),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise BenchError(f"sekisho {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def cli_batch(self, commands: Sequence[Command]) -> None:
        """Many `sekisho` commands in one interpreter (`--cli-batch`: the CLI's own main())."""
        lines = "".join(
            json.dumps({"argv": argv, "stdin": stdin}) + "\n" for argv, stdin in commands
        )
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--cli-batch"],
            env=self.env(),
            cwd=self.root,
            input=lines,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if done.returncode != 0:
            raise BenchError(f"sekisho (batch): {done.stderr.strip()[-800:]}")

    def set_up(self, users: Sequence[str]) -> None:
        """`sekisho init`, then the apps, the group and the users."""
        self.cli("init", "--quiet")
        metadata = self.root / "sp-metadata.xml"
        metadata.write_text(SP_METADATA)
        self.cli_batch(setup_commands(metadata) + user_commands(users))
        self.mfa_mode = "disabled"

    def set_mfa(self, mode: str) -> None:
        """`sekisho mfa configure --mode MODE` (read by the running server per sign-in)."""
        if mode != self.mfa_mode:
            self.cli("mfa", "configure", "--mode", mode)
            self.mfa_mode = mode

    def start(self, workers: int = SERVER_WORKERS) -> None:
        """`sekisho serve --workers N` on 127.0.0.1, waiting until /readyz answers."""
        log = (self.root / "serve.log").open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sekisho.cli.main",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            env=self.env(),
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        wait_until_up(self.client_url + "/readyz")

    def stop(self) -> None:
        """Stop the server and its workers."""
        if self.proc is not None:
            stop_group(self.proc)
            self.proc = None

    def restart(self, password_hash: str) -> None:
        """Serve again with other argon2id parameters (stored hashes follow at next sign-in)."""
        self.stop()
        self.password_hash = password_hash
        self.start()

    def cpu_roots(self) -> list[int]:
        """The server's process tree, and PostgreSQL's: the database works for it."""
        return ([self.proc.pid] if self.proc else []) + self.database_pids()


class SimpleSamlPhp:
    """SimpleSAMLphp 1.19 through the peer's scripts, with argon2id at OWASP's floor."""

    key = "ssp"
    label = "SimpleSAMLphp 1.19"

    def __init__(self, peer: Path, root: Path) -> None:
        self.peer = peer
        self.root = root
        self.port = free_port()

    @property
    def client_url(self) -> str:
        """Where the clients send their requests."""
        return f"http://127.0.0.1:{self.port}"

    def _script(self, *argv: str, timeout: float = 120) -> None:
        env = dict(os.environ, SSP_ROOT=str(self.root), PORT=str(self.port))
        env.update(AUTH_SOURCE="argon2id-userpass", SKIP_APT="1", BENCH_PASSWORD=PASSWORD)
        done = subprocess.run(
            ["bash", str(self.peer / argv[0]), *argv[1:]],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise BenchError(f"{' '.join(argv)}: {done.stderr.strip()[-800:]}{done.stdout[-300:]}")

    def _forget_stale_pids(self) -> None:
        # A pid file left by an interrupted run may name a recycled PID: stop only what
        # still is this root's nginx or php-fpm, and forget the rest.
        for pid_file in (self.root / "run").glob("*.pid"):
            with contextlib.suppress(OSError, ValueError):
                pid = int(pid_file.read_text().split()[0])
                if str(self.root).encode() not in Path(f"/proc/{pid}/cmdline").read_bytes():
                    pid_file.unlink()

    def set_up(self) -> None:
        """setup.sh with the argon2id user store (idempotent; the first run makes a venv)."""
        if not (self.peer / "setup.sh").exists():
            raise BenchError(f"no SimpleSAMLphp peer at {self.peer} (see --peer)")
        self._forget_stale_pids()
        self._script("serve.sh", "stop")
        self._script("setup.sh", timeout=600)

    def start(self) -> None:
        """nginx + php-fpm with 4 static children."""
        self._script("serve.sh", "start", "fpm", str(SERVER_WORKERS))

    def stop(self) -> None:
        """Stop both and drop the sessions the runs left (Debian turns PHP's session GC off)."""
        with contextlib.suppress(BenchError, subprocess.TimeoutExpired):
            self._script("serve.sh", "stop")
        for session in (self.root / "var" / "sessions").glob("sess_*"):
            session.unlink(missing_ok=True)

    def cpu_roots(self) -> list[int]:
        """nginx's and php-fpm's masters, from their pid files."""
        roots = []
        for name in ("php-fpm.pid", "nginx.pid"):
            with contextlib.suppress(OSError, ValueError):
                roots.append(int((self.root / "run" / name).read_text().split()[0]))
        return roots


# ---------------------------------------------------------------- targets


@dataclass
class Target:
    """An IdP under test, as the clients see it."""

    key: str
    label: str
    base: str
    flows: Mapping[str, Flow]
    user_for: Callable[[int], str]
    sp_issuer: str
    sso_destination: str
    metadata_path: str
    cpu_roots: Callable[[], list[int]]
    totp_users: list[TotpUser] = field(default_factory=list)
    _validators: dict[str, Validator] = field(default_factory=dict)

    def validator(self, sp_entity_id: str) -> Validator:
        """A strict python3-saml SP trusting this IdP's metadata, as served."""
        if sp_entity_id not in self._validators:
            with requests.Session() as http:
                http.trust_env = False
                metadata = http.get(self.base + self.metadata_path, timeout=HTTP_TIMEOUT)
                metadata.raise_for_status()
            self._validators[sp_entity_id] = Validator(metadata.text, sp_entity_id)
        return self._validators[sp_entity_id]

    def used_totp(self, index: int, step: int) -> None:
        """A wrk thread used this TOTP user's code of ``step``."""
        user = self.totp_users[index]
        user.last_step = max(user.last_step, step)


def sekisho_target(installation: SekishoInstallation) -> Target:
    """Sekisho: one user per client (agent1..), the SP-initiated app's own entity."""
    return Target(
        key=installation.key,
        label=installation.label,
        base=installation.client_url,
        flows=SEKISHO_FLOWS,
        user_for=lambda i: f"agent{i + 1}",
        sp_issuer=TEST_SP,
        sso_destination=installation.base_url + "/saml/sso",
        metadata_path="/saml/metadata",
        cpu_roots=installation.cpu_roots,
    )


def ssp_target(ssp: SimpleSamlPhp) -> Target:
    """SimpleSAMLphp: its one user (agent1) for every client, as loadtest.py has it."""
    return Target(
        key=ssp.key,
        label=ssp.label,
        base=ssp.client_url,
        flows=SSP_FLOWS,
        user_for=lambda i: "agent1",
        sp_issuer=AWS_SP,
        sso_destination=ssp.client_url + SSP_SSO,
        metadata_path="/simplesaml/saml2/idp/metadata.php",
        cpu_roots=ssp.cpu_roots,
    )


def sign_in(target: Target, variables: dict[str, str]) -> dict[str, str]:
    """A signed-in browser's cookies: one unit of the target's sign-in flow (untimed)."""
    with FlowClient(target.base, Worker(vars=dict(variables))) as client:
        client.unit(target.flows["signin"])
        return client.jar


def prepare_workers(target: Target, scenario: Scenario, concurrency: int) -> list[Worker]:
    """Each client's variables, signed-in session (for SSO flows) and per-unit feed."""
    flow = target.flows[scenario.flow]
    workers = []
    for i in range(concurrency):
        worker = Worker(vars={"user": target.user_for(i), "password": PASSWORD, "app": CONNECT_APP})
        if flow.feed == "authn":
            worker.feed = AuthnFeed(target.sp_issuer, target.sso_destination)
        elif flow.feed == "totp":
            worker.feed = TotpFeed(target.totp_users[i::concurrency])
        if not flow.fresh_jar:
            worker.cookies = sign_in(target, worker.vars)
        workers.append(worker)
    return workers


def register_totp_user(target: Target, index: int, name: str) -> TotpUser:
    """A first sign-in that registers an authenticator app, through the pages (untimed)."""
    variables = {"user": name, "password": PASSWORD}
    start, finish = SEKISHO_TOTP_REGISTRATION
    with FlowClient(target.base, Worker(vars=dict(variables))) as client:
        client.run(start, variables)
        secret = variables["secret"].replace(" ", "")
        step = time_step(time.time())
        variables["code"] = totp_code(secret, step)
        client.run(finish, variables)
    return TotpUser(index=index, name=name, secret=secret, last_step=step)


def register_totp_users(target: Target, names: Sequence[str], threads: int = 4) -> None:
    """Register every TOTP user (a few threads, as several people signing in at once)."""
    with ThreadPoolExecutor(threads) as pool:
        users = list(pool.map(lambda pair: register_totp_user(target, *pair), enumerate(names)))
    target.totp_users = users


# ---------------------------------------------------------------- one measurement


def percentile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (as loadtest.py computes them)."""
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def measure(target: Target, case: Case, duration: float, scratch: Path) -> dict[str, Any]:
    """One timed run of a case on a target, its CPU accounting, then its validation."""
    flow = target.flows[case.scenario.flow]
    workers = prepare_workers(target, case.scenario, case.concurrency)
    roots = target.cpu_roots()
    before = Snapshot.take(roots)
    if case.client == "wrk":
        raw = run_wrk(target.base, flow, workers, duration, scratch, target.used_totp)
    else:
        raw = run_python(target.base, flow, workers, duration)
    after = Snapshot.take(roots)
    wall = after.wall - before.wall
    server = after.server - before.server
    client = (
        (after.children - before.children) if case.client == "wrk" else (after.own - before.own)
    )
    busy = (after.machine_total - before.machine_total) - (after.machine_idle - before.machine_idle)
    sp_entity = target.sp_issuer if flow.feed == "authn" else AWS_SP
    validator = target.validator(sp_entity)
    problems = [e for saml, rid in raw.responses if (e := validator.error(saml, rid))]
    ordered = sorted(raw.latencies)
    units = max(raw.units, 1)
    return {
        "units": raw.units,
        "errors": raw.errors,
        "elapsed_s": round(raw.elapsed, 3),
        "units_per_s": round(raw.units / raw.elapsed, 2) if raw.elapsed > 0 else 0.0,
        "http_requests": raw.http_requests,
        "requests_per_unit": len(flow.steps),
        "p50_ms": round(1000 * percentile(ordered, 0.50), 2),
        "p95_ms": round(1000 * percentile(ordered, 0.95), 2),
        "p99_ms": round(1000 * percentile(ordered, 0.99), 2),
        "server_cpu_s": round(server, 3),
        "server_cores": round(server / wall, 3),
        "server_cpu_ms_per_unit": round(1000 * server / units, 3),
        "client_cpu_s": round(client, 3),
        "client_cores": round(client / wall, 3),
        "machine_busy_cores": round(busy / wall, 3),
        "others_cores": round(max(0.0, busy - server - client) / wall, 3),
        "loadavg_1m": round(before.load, 2),
        "validated": len(raw.responses),
        "valid": len(raw.responses) - len(problems),
        "validation_errors": problems[:3],
        **raw.notes,
    }


def first_units(base: str, flow: Flow, workers: list[Worker]) -> None:
    """One unit per worker, all at once, to the end."""

    def one(worker: Worker) -> None:
        with FlowClient(base, worker) as client:
            client.unit(flow)

    with ThreadPoolExecutor(len(workers)) as pool:
        list(pool.map(one, workers))


def warm_up(target: Target, case: Case, seconds: float, scratch: Path) -> None:
    """Untimed units first: one per client to the end (a stored password whose argon2id
    parameters changed is rehashed then), then ``seconds`` of the case's client and flow."""
    flow = target.flows[case.scenario.flow]
    workers = prepare_workers(target, case.scenario, case.concurrency)
    try:
        first_units(target.base, flow, workers)
    except (FlowError, requests.RequestException) as exc:
        raise BenchError(f"{target.label}, {case.name}: the first unit failed: {exc}") from exc
    if case.client == "wrk":
        run_wrk(target.base, flow, workers, seconds, scratch, target.used_totp)
    else:
        run_python(target.base, flow, workers, seconds)


# ---------------------------------------------------------------- the whole benchmark


@dataclass(frozen=True)
class Settings:
    """How long and how much."""

    duration: float
    warmup: float
    runs: int
    totp_users: int
    max_minutes: float
    cases: tuple[Case, ...]
    servers: tuple[str, ...]
    peer: Path
    ssp_root: Path
    results: Path
    keep: bool


# Running order, so that a hard cap cuts what the goals need least: c=4 before c=1,
# then the goals (SSO, equal parameters, Keycloak's, the default's cost), then the rest.
PRIORITY = ("sso", "signin", "keycloak", "default", "sp-sso", "totp")


def plan(scenarios: Sequence[str], clients: Sequence[str], quick: bool) -> tuple[Case, ...]:
    """The cases in running order (``PRIORITY``); the table sorts them back by scenario."""
    cases: list[Case] = []
    for scenario in SCENARIOS:
        if scenario.key not in scenarios:
            continue
        levels = (4,) if quick else scenario.concurrency
        for concurrency in levels:
            cases.extend(
                Case(scenario, client, concurrency)
                for client in scenario.clients
                if client in clients
            )
    return tuple(sorted(cases, key=lambda c: (c.concurrency != 4, PRIORITY.index(c.scenario.key))))


class Bench:
    """The servers, their targets, the deadline and the results file."""

    def __init__(self, settings: Settings, stack: contextlib.ExitStack) -> None:
        self.settings = settings
        self.stack = stack
        self.started = time.monotonic()
        self.deadline = self.started + settings.max_minutes * 60
        self.work = Path(tempfile.mkdtemp(prefix="sekisho-bench-http."))
        self.finished = False
        stack.callback(self.clean_up)
        self.installations: list[SekishoInstallation] = []
        self.targets: dict[str, Target] = {}
        self.records: list[dict[str, Any]] = []
        self.skipped: list[str] = []
        self.out: TextIO = stack.enter_context(settings.results.open("a"))

    def clean_up(self) -> None:
        """Remove the data directories, unless asked to keep them or the run failed."""
        if self.finished and not self.settings.keep:
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            print(f"kept {self.work} (server logs: */serve.log)", file=sys.stderr)

    def log(self, message: str) -> None:
        """Progress on stdout, with the elapsed time."""
        print(f"[{time.monotonic() - self.started:6.0f} s] {message}", flush=True)

    def write(self, record: dict[str, Any]) -> None:
        """One JSON line of results."""
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()

    def remaining(self) -> float:
        """Seconds left before the hard cap."""
        return self.deadline - time.monotonic()

    def start_servers(self) -> None:
        """Everything the cases need, set up and serving."""
        wanted = self.settings.servers
        users = [f"agent{i}" for i in range(1, AGENTS + 1)]
        cluster: PostgresCluster | None = None
        if "postgresql" in wanted:
            cluster = PostgresCluster(PG_PORT)
            self.stack.callback(cluster.stop)
            self.log(
                f"PostgreSQL {cluster.bin.parent.name} on 127.0.0.1:{PG_PORT} (default durability)"
            )
            cluster.start()
        for key, label in (("sqlite", "Sekisho SQLite"), ("postgresql", "Sekisho PostgreSQL")):
            if key not in wanted:
                continue
            installation = SekishoInstallation(f"sekisho-{key}", label, self.work / key)
            if key == "postgresql" and cluster is not None:
                installation.database_url = cluster.create_database("bench")
                installation.database_pids = cluster.postmaster_pids
            self.stack.callback(installation.stop)
            self.installations.append(installation)
        self.log(f"Sekisho: sekisho init, {len(users)} users, apps (sekisho CLI), then serve")
        with ThreadPoolExecutor(2) as pool:  # one CLI process each: both cores at work
            list(pool.map(lambda installation: installation.set_up(users), self.installations))
        for installation in self.installations:
            installation.start()
            self.targets[installation.key] = sekisho_target(installation)
        if "ssp" in wanted:
            ssp = SimpleSamlPhp(self.settings.peer, self.settings.ssp_root)
            self.log(
                f"SimpleSAMLphp: setup.sh (argon2id-userpass) in {ssp.root}, serve.sh start fpm 4"
            )
            ssp.set_up()
            self.stack.callback(ssp.stop)
            ssp.start()
            self.targets[ssp.key] = ssp_target(ssp)

    def add_totp_users(self) -> None:
        """Users with an authenticator app, made when the TOTP case starts: created with the
        CLI, then each one's first sign-in registers the app through the real pages."""
        names = [f"totp{i:04d}" for i in range(self.settings.totp_users)]
        commands = user_commands(names)
        self.log(f"Sekisho: {len(names)} more users (sekisho CLI)")
        with ThreadPoolExecutor(2) as pool:
            list(
                pool.map(lambda installation: installation.cli_batch(commands), self.installations)
            )
        for installation in self.installations:
            installation.set_mfa("always")
            started = time.monotonic()
            register_totp_users(self.targets[installation.key], names)
            self.log(
                f"{installation.label}: {len(names)} authenticator apps registered over HTTP "
                f"in {time.monotonic() - started:.0f} s"
            )

    def prepare(self, scenario: Scenario) -> None:
        """Sekisho's argon2id parameters (a restart) and MFA mode for this scenario."""
        for installation in self.installations:
            if installation.password_hash != scenario.argon2:
                self.log(f"{installation.label}: restart, SEKISHO_PASSWORD_HASH={scenario.argon2}")
                installation.restart(scenario.argon2)
            installation.set_mfa(scenario.mfa)
        sekisho = [self.targets[installation.key] for installation in self.installations]
        if scenario.flow == "signin_totp" and sekisho and not sekisho[0].totp_users:
            self.add_totp_users()

    def case_targets(self, case: Case) -> list[Target]:
        """Sekisho SQLite, Sekisho PostgreSQL, SimpleSAMLphp: those running and taking part."""
        keys = ["sekisho-sqlite", "sekisho-postgresql"] + (
            ["ssp"] if case.scenario.with_ssp else []
        )
        return [self.targets[k] for k in keys if k in self.targets]

    def run_case(self, case: Case) -> None:
        """Warm up each server, then the runs, interleaved across the servers."""
        settings = self.settings
        targets = self.case_targets(case)
        round_seconds = len(targets) * (settings.duration + 3)
        totp = case.scenario.flow == "signin_totp"
        needed = len(targets) * settings.warmup + settings.runs * round_seconds + 10
        needed += settings.runs * TOTP_PERIOD if totp else 0
        if needed > self.remaining():
            self.skipped.append(case.name)
            self.log(f"{case.name}: skipped, {needed:.0f} s needed, {self.remaining():.0f} s left")
            return
        self.prepare(case.scenario)
        self.log(f"{case.name}: {case.scenario.title}")
        scratch = self.work / "wrk"
        for target in targets:
            warm_up(target, case, settings.warmup, scratch)
        for run in range(1, settings.runs + 1):
            if totp:
                wait_for_room_in_step(round_seconds)
            for target in targets:
                result = measure(target, case, settings.duration, scratch)
                record = {
                    "type": "run",
                    "case": case.name,
                    "scenario": case.scenario.key,
                    "title": case.scenario.title,
                    "client": case.client,
                    "concurrency": case.concurrency,
                    "argon2id": case.scenario.argon2,
                    "server": target.key,
                    "label": target.label,
                    "run": run,
                    **result,
                }
                self.records.append(record)
                self.write(record)
                self.log(progress_line(record))


def wait_for_room_in_step(seconds: float) -> None:
    """Start a round of TOTP runs only if it ends within this 30-second step (else wait).

    A user signs in at most once per step, so the users one installation needs are its
    sign-in rate times its busy seconds within one step: one run, not two or three.
    """
    left = TOTP_PERIOD - time.time() % TOTP_PERIOD
    if seconds < TOTP_PERIOD and left < seconds:
        time.sleep(left + 0.2)


def progress_line(r: Mapping[str, Any]) -> str:
    """One run, on one line."""
    notes = "".join(f" {k}={r[k]}" for k in ("starved", "feed_exhausted", "last_errors") if k in r)
    return (
        f"  {r['label']:<20} run {r['run']}: {r['units_per_s']:8.1f}/s  p50 {r['p50_ms']:6.1f} ms"
        f"  p95 {r['p95_ms']:6.1f} ms  server {r['server_cores']:.2f} cores"
        f" ({r['server_cpu_ms_per_unit']:.2f} ms/unit)  client {r['client_cores']:.2f}"
        f"  others {r['others_cores']:.2f}  load {r['loadavg_1m']:.1f}"
        f"  err {r['errors']}  valid {r['valid']}/{r['validated']}{notes}"
    )


# ---------------------------------------------------------------- report


def median_of(runs: Sequence[Mapping[str, Any]], key: str) -> float:
    """The median of one figure over a row's runs."""
    return float(statistics.median(float(r[key]) for r in runs))


def summarize(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per case and server: medians of the runs, ratios to SimpleSAMLphp."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["case"], record["server"]), []).append(record)
    rows = []
    for (case, server), runs in groups.items():
        first = runs[0]
        cpu = median_of(runs, "server_cpu_ms_per_unit")
        rows.append(
            {
                "case": case,
                "scenario": first["scenario"],
                "title": first["title"],
                "client": first["client"],
                "concurrency": first["concurrency"],
                "server": server,
                "label": first["label"],
                "runs": len(runs),
                "units_per_s": median_of(runs, "units_per_s"),
                "min": min(float(r["units_per_s"]) for r in runs),
                "max": max(float(r["units_per_s"]) for r in runs),
                "requests_per_unit": median_of(runs, "requests_per_unit"),
                "p50_ms": median_of(runs, "p50_ms"),
                "p95_ms": median_of(runs, "p95_ms"),
                "server_cpu_ms_per_unit": cpu,
                "per_core": 1000 / cpu if cpu > 0 else 0.0,
                "server_cores": median_of(runs, "server_cores"),
                "client_cores": median_of(runs, "client_cores"),
                "others_cores": median_of(runs, "others_cores"),
                "errors": sum(int(r["errors"]) for r in runs),
                "valid": sum(int(r["valid"]) for r in runs),
                "validated": sum(int(r["validated"]) for r in runs),
                "starved": sum(int(r.get("starved", 0)) for r in runs),
            }
        )
    scenarios = [s.key for s in SCENARIOS]
    servers = ["sekisho-sqlite", "sekisho-postgresql", "ssp"]
    rows.sort(
        key=lambda r: (
            scenarios.index(r["scenario"]),
            r["concurrency"],
            r["client"] != "wrk",
            servers.index(r["server"]) if r["server"] in servers else len(servers),
        )
    )
    peers = {row["case"]: row for row in rows if row["server"] == "ssp"}
    for row in rows:
        peer = peers.get(row["case"])
        if peer and row["server"] != "ssp" and peer["units_per_s"] > 0 and row["per_core"] > 0:
            row["ratio"] = row["units_per_s"] / peer["units_per_s"]
            row["ratio_per_core"] = row["per_core"] / peer["per_core"]
    return rows


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The one table: figures per server, ratios on Sekisho's rows."""
    head = (
        "| scenario | client | c | server | HTTP req/unit | units/s (min–max) | p50 ms | p95 ms "
        "| server CPU ms/unit | units/s per server core | client cores | ×SSP units/s "
        "| ×SSP per core | checks |\n"
        "|---|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|\n"
    )
    lines = []
    for r in rows:
        ratio = f"**{r['ratio']:.2f}×**" if "ratio" in r else "—"
        per_core = f"{r['ratio_per_core']:.2f}×" if "ratio_per_core" in r else "—"
        checks = f"{r['errors']} err, {r['valid']}/{r['validated']} valid"
        if r["starved"]:
            checks += f", {r['starved']} starved"
        lines.append(
            f"| {r['title']} | {r['client']} | {r['concurrency']} | {r['label']} "
            f"| {r['requests_per_unit']:.0f} "
            f"| **{r['units_per_s']:.1f}** ({r['min']:.0f}–{r['max']:.0f}) "
            f"| {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['server_cpu_ms_per_unit']:.2f} "
            f"| {r['per_core']:.1f} | {r['client_cores']:.2f} | {ratio} | {per_core} | {checks} |"
        )
    return head + "\n".join(lines)


def find_row(
    rows: Sequence[Mapping[str, Any]], scenario: str, server: str
) -> Mapping[str, Any] | None:
    """The c=4 row of a scenario on a server, wrk's if measured, else Python's."""
    matches = [
        r
        for r in rows
        if r["scenario"] == scenario and r["server"] == server and r["concurrency"] == 4
    ]
    matches.sort(key=lambda r: r["client"] != "wrk")
    return matches[0] if matches else None


def goal_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The issue's goals, read off the table."""
    lines = []
    for scenario, goal in (("sso", 2.0), ("signin", 1.5)):
        parts = []
        for server, name in (("sekisho-sqlite", "SQLite"), ("sekisho-postgresql", "PostgreSQL")):
            row = find_row(rows, scenario, server)
            if row and "ratio" in row:
                parts.append(f"{name} {row['ratio']:.2f}× ({row['client']})")
        if parts:
            title = (
                "SSO signed in, c=4" if scenario == "sso" else "full sign-in at equal argon2id, c=4"
            )
            lines.append(f"- {title}: {', '.join(parts)} SimpleSAMLphp (goal ≥ {goal}×)")
    for server, name in (("sekisho-sqlite", "SQLite"), ("sekisho-postgresql", "PostgreSQL")):
        keycloak = find_row(rows, "keycloak", server)
        if keycloak:
            lines.append(
                f"- {name}, Keycloak's m=7168,t=5,p=1: "
                f"{keycloak['per_core']:.1f} sign-ins/s per core "
                f"({keycloak['server_cpu_ms_per_unit']:.1f} ms server CPU each; goal ≥ 15)"
            )
        default, floor = find_row(rows, "default", server), find_row(rows, "signin", server)
        if default and floor:
            lines.append(
                f"- {name}, default m=65536,t=3,p=1: "
                f"{default['server_cpu_ms_per_unit']:.1f} ms server CPU "
                f"per sign-in, {default['per_core']:.1f}/s per core (at the floor "
                f"{floor['server_cpu_ms_per_unit']:.1f} ms: the default costs "
                f"{default['server_cpu_ms_per_unit'] - floor['server_cpu_ms_per_unit']:+.1f} ms)"
            )
    return lines


def noise_line(records: Sequence[Mapping[str, Any]]) -> str:
    """How busy the machine was with other work during the runs."""
    loads = sorted(float(r["loadavg_1m"]) for r in records)
    others = sorted(float(r["others_cores"]) for r in records)
    return (
        f"Noise: 1-minute load average at the runs' start {loads[0]:.1f}–{loads[-1]:.1f} "
        f"(median {statistics.median(loads):.1f}); CPU used by other processes during the runs "
        f"median {statistics.median(others):.2f}, max {others[-1]:.2f} of {os.cpu_count()} cores."
    )


def machine_facts(settings: Settings) -> dict[str, Any]:
    """What the figures were measured on."""

    def first_line(*command: str) -> str:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(command, capture_output=True, text=True, timeout=10)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        return ""

    from importlib.metadata import version

    return {
        "type": "meta",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "granian": version("granian"),
        "django": version("django"),
        "sekisho_commit": first_line("git", "-C", str(REPO), "describe", "--always", "--dirty"),
        "wrk": first_line("wrk", "-v"),
        "php": first_line("php", "-v"),
        "simplesamlphp": first_line("dpkg-query", "-W", "simplesamlphp"),
        "postgresql": first_line("dpkg-query", "-W", "postgresql"),
        "duration_s": settings.duration,
        "warmup_s": settings.warmup,
        "runs": settings.runs,
        "cases": [c.name for c in settings.cases],
    }


# ---------------------------------------------------------------- entry points


def cli_batch() -> int:
    """`sekisho` commands from stdin (JSON lines of argv and stdin), in this one process."""
    import functools

    from sekisho.cli import main as cli

    # The CLI's own main() for every command; only its parser is built once, not per user.
    cli.build_parser = functools.cache(cli.build_parser)
    sekisho = cli.main
    for line in sys.stdin.read().splitlines():
        command = json.loads(line)
        sys.stdin = io.StringIO(command["stdin"] or "")
        with contextlib.redirect_stdout(io.StringIO()):
            status = sekisho(command["argv"])
        if status != 0:
            print(f"sekisho {' '.join(command['argv'])}: exit status {status}", file=sys.stderr)
            return status
    return 0


def parse_settings(argv: Sequence[str] | None) -> Settings:
    """Command-line options into Settings."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="wrk only, c=4, short runs")
    parser.add_argument("--duration", type=float, help="seconds per timed run (default 8; quick 3)")
    parser.add_argument("--warmup", type=float, help="untimed seconds per case and server")
    parser.add_argument("--runs", type=int, help="runs per case and server (medians; at least 3)")
    parser.add_argument("--scenarios", default=",".join(s.key for s in SCENARIOS))
    parser.add_argument("--clients", help="wrk,python (quick: wrk)")
    parser.add_argument("--servers", default="sqlite,postgresql,ssp")
    parser.add_argument(
        "--totp-users", type=int, help="users with an authenticator app, per installation"
    )
    parser.add_argument(
        "--max-minutes", type=float, help="hard cap on the whole run (30; quick 10)"
    )
    parser.add_argument(
        "--peer", type=Path, default=DEFAULT_PEER, help="the SimpleSAMLphp peer's scripts"
    )
    parser.add_argument("--ssp-root", type=Path, default=Path("/tmp/sekisho-bench-ssp"))
    parser.add_argument(
        "--results", type=Path, help="JSON lines (default /tmp/sekisho-bench-http-<time>.jsonl)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data directories and logs")
    args = parser.parse_args(argv)
    quick = args.quick
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(scenarios) - {s.key for s in SCENARIOS}
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    clients = [c.strip() for c in (args.clients or ("wrk" if quick else "wrk,python")).split(",")]
    servers = tuple(s.strip() for s in args.servers.split(",") if s.strip())
    if not set(clients) <= {"wrk", "python"} or not set(servers) <= {"sqlite", "postgresql", "ssp"}:
        parser.error("--clients takes wrk,python; --servers takes sqlite,postgresql,ssp")
    runs = args.runs or 3
    if runs < 3:
        parser.error("--runs must be at least 3 (the table shows medians)")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results = args.results or Path(f"/tmp/sekisho-bench-http-{stamp}.jsonl")
    if REPO in results.resolve().parents:
        parser.error("--results must be outside the repository")
    return Settings(
        duration=min(args.duration or (3.0 if quick else 8.0), 60.0),
        warmup=args.warmup if args.warmup is not None else (1.0 if quick else 2.0),
        runs=runs,
        totp_users=args.totp_users or 450,
        max_minutes=args.max_minutes or (10.0 if quick else 30.0),
        cases=plan(scenarios, clients, quick),
        servers=servers,
        peer=args.peer.resolve(),
        ssp_root=args.ssp_root,
        results=results,
        keep=args.keep,
    )


@contextlib.contextmanager
def exclusive_lock() -> Iterator[None]:
    """One benchmark at a time (they would measure each other, and share --ssp-root)."""
    with LOCK_FILE.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BenchError(f"another bench_http run holds {LOCK_FILE}") from None
        yield


def main(argv: Sequence[str] | None = None) -> int:
    """Set up, run every case interleaved across the servers, print the table."""
    if argv is None and sys.argv[1:] == ["--cli-batch"]:
        return cli_batch()
    settings = parse_settings(argv)
    for tool in ("wrk", "runuser" if os.geteuid() == 0 else "true"):
        if shutil.which(tool) is None:
            raise BenchError(
                f"{tool} is not installed (the SimpleSAMLphp peer's setup.sh installs wrk)"
            )
    # SIGTERM unwinds like Ctrl-C, so every server started here is stopped again; a
    # watchdog ends the run if the cap is overrun by more than a few minutes anyway.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    watchdog = threading.Timer(
        settings.max_minutes * 60 + 300, os.kill, (os.getpid(), signal.SIGTERM)
    )
    watchdog.daemon = True
    watchdog.start()
    with exclusive_lock(), contextlib.ExitStack() as stack:
        bench = Bench(settings, stack)
        meta = machine_facts(settings)
        bench.write(meta)
        bench.log(
            f"results: {settings.results}; {len(settings.cases)} cases; "
            f"cap {settings.max_minutes:.0f} min"
        )
        bench.start_servers()
        for case in settings.cases:
            bench.run_case(case)
        rows = summarize(bench.records)
        bench.write({"type": "summary", "rows": rows, "skipped": bench.skipped})
        bench.finished = True
    watchdog.cancel()
    print()
    print(
        f"## bench_http, {meta['when']}, {meta['host']} ({meta['cpus']} CPUs), "
        f"Sekisho {meta['sekisho_commit']}"
    )
    print(
        f"Medians of {settings.runs} runs of {settings.duration:.0f} s per server, interleaved; "
        f"Sekisho: `sekisho serve --workers {SERVER_WORKERS}` (granian); SimpleSAMLphp: nginx + "
        f"php-fpm, {SERVER_WORKERS} children. Server CPU: the server's process tree "
        "(PostgreSQL's too for Sekisho PostgreSQL). SimpleSAMLphp has no second factor here.\n"
    )
    print(markdown_table(rows) if rows else "(no runs)")
    print()
    for line in goal_lines(rows):
        print(line)
    if bench.records:
        print(noise_line(bench.records))
    if bench.skipped:
        print(f"Skipped (time cap): {', '.join(bench.skipped)}")
    print(f"Raw results: {settings.results}")
    return 0 if all(r["errors"] == 0 and r["valid"] == r["validated"] for r in bench.records) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench_http: {exc}", file=sys.stderr)
        sys.exit(1)
