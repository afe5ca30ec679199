"""The HTTP benchmark's pure parts: its AuthnRequests, templates, checks, Lua data, report."""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime

import pytest

from bench import bench_http as bench
from sekisho.saml.core import authnrequest as ar


def test_authn_request_is_one_sekisho_accepts() -> None:
    now = datetime(2026, 12, 3, 9, 0, 0, tzinfo=UTC)
    query = bench.authn_request_query(
        request_id="_0123abcd",
        issuer=bench.TEST_SP,
        destination="http://localhost:8000/saml/sso",
        now=now,
    )
    params = urllib.parse.parse_qs(query)
    assert params["RelayState"] == ["bench"]
    request = ar.parse_authn_request(ar.decode_redirect_message(params["SAMLRequest"][0]))
    assert request.id == "_0123abcd"
    assert request.issuer == bench.TEST_SP
    assert request.destination == "http://localhost:8000/saml/sso"
    assert request.acs_url == bench.AWS_ACS
    assert request.issue_instant == now
    assert not request.has_signature
    ar.check_request_freshness(request, now=now)


def test_each_authn_feed_unit_is_a_new_request() -> None:
    feed = bench.AuthnFeed(bench.TEST_SP, "http://localhost:8000/saml/sso")
    units = [feed.next() for _ in range(3)]
    for unit in units:
        message = urllib.parse.parse_qs(unit["samlrequest"])["SAMLRequest"][0]
        assert ar.parse_authn_request(ar.decode_redirect_message(message)).id == unit["request_id"]
    assert len({unit["request_id"] for unit in units}) == 3


def test_templates_take_variables_and_cookies() -> None:
    jar = {"sekisho_csrf": "abc"}
    variables = {"user": "agent1", "location": "/saml/continue/t"}
    assert bench.expand("{cookie.sekisho_csrf}:{user}", variables, jar) == "abc:agent1"
    assert bench.expand("{location}", variables, jar) == "/saml/continue/t"
    assert bench.expand("{missing}{cookie.none}", variables, jar) == ""


def test_response_checks_and_captures() -> None:
    step = bench.Step(
        "GET",
        "/login",
        captures=(bench.Capture("state", 'name="AuthState" value="', '"', unescape=True),),
        contains="AuthState",
    )
    variables: dict[str, str] = {}
    body = '<input name="AuthState" value="a&amp;b:c">'
    bench.check_response(1, step, 200, "", body, variables)
    assert variables["state"] == "a&b:c"
    with pytest.raises(bench.FlowError, match="HTTP 500"):
        bench.check_response(1, step, 500, "", body, {})
    with pytest.raises(bench.FlowError, match="no 'AuthState'"):
        bench.check_response(1, step, 200, "", "<p>", {})
    redirect = bench.Step("POST", "/signin", expect=302, location="/signin/mfa")
    bench.check_response(2, redirect, 302, "/signin/mfa", "", {})
    with pytest.raises(bench.FlowError, match="Location '/apps'"):
        bench.check_response(2, redirect, 302, "/apps", "", {})


def test_every_flow_uses_only_variables_it_has() -> None:
    """A typo in a template would send an empty value: the server would refuse every unit."""
    known = {"user", "password", "app", "location", "location_path"}
    feeds = {"": set(), "authn": {"request_id", "samlrequest"}, "totp": {"code"}}
    for flows in (bench.SEKISHO_FLOWS, bench.SSP_FLOWS):
        for flow in flows.values():
            available = known | feeds[flow.feed]
            for step in flow.steps:
                templates = [step.path, *(value for _, value in step.form)]
                for template in templates:
                    for name in bench._PLACEHOLDER.findall(template):
                        assert name.startswith("cookie.") or name in available, (name, step)
                available |= {c.var for c in step.captures}


def test_lua_literals_escape_every_byte_that_needs_it() -> None:
    assert bench.lua_literal('a"b\\c\nd é') == '"a\\034b\\092c\\010d \\195\\169"'
    assert bench.lua_literal({"until": [1, True, 2.5]}) == '{["until"] = {1, true, 2.5}}'
    with pytest.raises(TypeError):
        bench.lua_literal(object())


def test_wrk_driver_output_is_read_back() -> None:
    used: list[tuple[int, int]] = []
    raw = bench.parse_wrk_output(
        "summary\t2000000\t10\t0\t1\t0\t0\t0\n"
        "thread\t4\t1\t2\t0\tstep 2: HTTP 401\n"
        "lat\t0.0100000\nlat\t0.0300000\n"
        "used\t7\t59000000\n"
        "saml\t_id1\tPHNhbWw+\n",
        lambda index, step: used.append((index, step)),
    )
    assert (raw.units, raw.errors, raw.elapsed, raw.http_requests) == (4, 2, 2.0, 10)
    assert raw.latencies == [0.01, 0.03]
    assert raw.responses == [("PHNhbWw+", "_id1")]
    assert used == [(7, 59000000)]
    assert raw.notes["starved"] == 2
    assert raw.notes["last_errors"] == ["step 2: HTTP 401"]


def test_percentiles_interpolate() -> None:
    assert bench.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert bench.percentile([5.0], 0.95) == 5.0


def _record(server: str, rate: float, cpu_ms: float) -> dict[str, object]:
    return {
        "case": "sso/wrk/c4",
        "scenario": "sso",
        "title": "SSO, signed in",
        "client": "wrk",
        "concurrency": 4,
        "server": server,
        "label": server,
        "units_per_s": rate,
        "requests_per_unit": 1,
        "p50_ms": 1.0,
        "p95_ms": 2.0,
        "server_cpu_ms_per_unit": cpu_ms,
        "server_cores": 1.0,
        "client_cores": 0.1,
        "others_cores": 0.0,
        "loadavg_1m": 1.0,
        "errors": 0,
        "valid": 4,
        "validated": 4,
    }


def test_summary_takes_medians_and_ratios_to_simplesamlphp() -> None:
    records = [
        _record("ssp", 100.0, 5.0),
        _record("ssp", 300.0, 5.0),
        _record("ssp", 200.0, 5.0),
        _record("sekisho-sqlite", 400.0, 2.5),
        _record("sekisho-sqlite", 500.0, 2.5),
        _record("sekisho-sqlite", 50.0, 2.5),
    ]
    rows = {row["server"]: row for row in bench.summarize(records)}
    assert rows["ssp"]["units_per_s"] == 200.0
    assert "ratio" not in rows["ssp"]
    assert rows["sekisho-sqlite"]["units_per_s"] == 400.0
    assert (rows["sekisho-sqlite"]["min"], rows["sekisho-sqlite"]["max"]) == (50.0, 500.0)
    assert rows["sekisho-sqlite"]["ratio"] == 2.0
    assert rows["sekisho-sqlite"]["ratio_per_core"] == 2.0
    table = bench.markdown_table(list(rows.values()))
    assert "**2.00×**" in table
    assert bench.goal_lines(list(rows.values())) == [
        "- SSO signed in, c=4: SQLite 2.00× (wrk) SimpleSAMLphp (goal ≥ 2.0×)"
    ]


def test_plan_runs_what_the_goals_need_first() -> None:
    cases = bench.plan(["default", "totp", "sso", "keycloak"], ["wrk", "python"], quick=False)
    assert [c.name for c in cases] == [
        "sso/wrk/c4",
        "sso/python/c4",
        "keycloak/wrk/c4",
        "default/wrk/c4",
        "totp/wrk/c4",
        "totp/python/c4",
        "sso/wrk/c1",
        "sso/python/c1",
    ]
    quick = bench.plan(["sso", "signin"], ["wrk"], quick=True)
    assert [c.name for c in quick] == ["sso/wrk/c4", "signin/wrk/c4"]


def test_results_never_go_into_the_repository() -> None:
    with pytest.raises(SystemExit):
        bench.parse_settings(["--results", str(bench.REPO / "results.jsonl")])
    with pytest.raises(SystemExit):
        bench.parse_settings(["--runs", "2"])
